"""Lesson 09: collective costs against hand-worked numbers, the α-β fit, MPI end to end."""

import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest

from memwall_lab import comm, comm_widgets, hardware, models, provenance

# Llama-3-70B from its config.json: 70,553,706,496 parameters; KV per token 2 (K and V)
# x 80 layers x 8 KV heads x 128 dims x 2 bytes = 327,680 bytes.
LLAMA3_70B_PARAMS = 70_553_706_496
LLAMA3_70B_KV_PER_TOKEN = 2 * 80 * 8 * 128 * 2


# ---------------------------------------------------------------- the α-β formulas by hand


def test_one_message_is_latency_plus_bytes_over_bandwidth():
    assert comm.message_seconds(1e6, 2e-6, 1e9) == pytest.approx(0.001002)


def test_ring_allreduce_by_hand():
    # 8 MB over 4 devices at 1 GB/s, 1 us a round: 2 x 3/4 x 8 ms + 6 rounds x 1 us
    assert comm.ring_allreduce_seconds(8e6, 4, 1e-6, 1e9) == pytest.approx(0.012006)
    assert comm.ring_allreduce_seconds(8e6, 1, 1e-6, 1e9) == 0


def test_allgather_and_reduce_scatter_are_each_half_a_ring_allreduce():
    # 3/4 x 8 ms + 3 rounds x 1 us
    assert comm.allgather_seconds(8e6, 4, 1e-6, 1e9) == pytest.approx(0.006003)
    assert comm.reduce_scatter_seconds(8e6, 4, 1e-6, 1e9) == pytest.approx(0.006003)
    assert (comm.allgather_seconds(8e6, 4, 1e-6, 1e9)
            + comm.reduce_scatter_seconds(8e6, 4, 1e-6, 1e9)) == pytest.approx(
        comm.ring_allreduce_seconds(8e6, 4, 1e-6, 1e9))


def test_tree_has_fewer_latencies_and_wins_only_for_small_messages():
    # 2 x 8 ms + 2 x ceil(log2 4) = 4 rounds; 5 devices: ceil(log2 5) = 3, so 6 rounds
    assert comm.tree_allreduce_seconds(8e6, 4, 1e-6, 1e9) == pytest.approx(0.016004)
    assert comm.tree_allreduce_seconds(0, 5, 1e-6, 1e9) == pytest.approx(6e-6)
    assert comm.tree_allreduce_seconds(8e6, 1, 1e-6, 1e9) == 0
    # large: the ring's 12.006 ms; 8 bytes: the tree's 4 us + 16 ns, not the ring's 6 us + 12 ns
    assert comm.allreduce_seconds(8e6, 4, 1e-6, 1e9) == pytest.approx(0.012006)
    assert comm.allreduce_seconds(8, 4, 1e-6, 1e9) == pytest.approx(4.016e-6)


def test_alltoall_sends_all_but_its_own_share():
    # 8 devices, 8 MB each: 7/8 x 8 MB at 1 GB/s + 7 rounds of 1 us
    assert comm.alltoall_seconds(8e6, 8, 1e-6, 1e9) == pytest.approx(0.007007)


def test_bus_bandwidth_undoes_the_ring_factor():
    assert comm.bus_bandwidth_bytes_per_s(8e6, 0.012, 4) == pytest.approx(1e9)


def test_pipeline_bubble_by_hand():
    assert comm.pipeline_bubble_fraction(4, 12) == pytest.approx(3 / 15)
    assert comm.pipeline_bubble_fraction(8, 1) == pytest.approx(7 / 8)
    assert comm.pipeline_bubble_fraction(1, 5) == 0


@pytest.mark.parametrize("call", [
    lambda: comm.ring_allreduce_seconds(1, 0, 1e-6, 1e9),
    lambda: comm.pipeline_bubble_fraction(0, 4),
    lambda: comm.bus_bandwidth_bytes_per_s(8, 0, 2),
])
def test_bad_arguments_are_value_errors(call):
    with pytest.raises(ValueError):
        call()


# ---------------------------------------------------------------- fitting α and β


def test_fit_recovers_a_line_exactly():
    sizes = [8, 1024, 65536, 1 << 20, 1 << 24]
    seconds = [2e-6 + size / 1e9 for size in sizes]
    intercept, slope = comm.fit_line(sizes, seconds)
    assert intercept == pytest.approx(2e-6) and slope == pytest.approx(1e-9)


def test_fit_allreduce_recovers_alpha_and_beta_of_the_ring():
    sizes = [8 * 4**k for k in range(12)]
    seconds = [comm.ring_allreduce_seconds(size, 4, 1.5e-6, 5e9) for size in sizes]
    fit = comm.fit_allreduce(sizes, seconds, 4)
    assert fit.latency_s == pytest.approx(1.5e-6) and fit.bandwidth_bytes_per_s == pytest.approx(
        5e9)


def test_relative_weights_keep_alpha_when_large_sizes_are_noisy():
    sizes = [8 * 4**k for k in range(12)]
    seconds = [comm.ring_allreduce_seconds(size, 2, 2e-6, 5e9) for size in sizes]
    seconds[-1] *= 1.05  # 5 % noise on 32 MiB is 340 us, 170 times alpha
    assert comm.fit_allreduce(sizes, seconds, 2).latency_s == pytest.approx(2e-6, rel=0.05)


def test_measured_times_give_a_measured_fit_and_typed_ones_do_not():
    sizes = [8, 4096, 1 << 20]
    typed = [comm.ring_allreduce_seconds(size, 2, 2e-6, 5e9) for size in sizes]
    assert not provenance.is_measured(comm.fit_allreduce(sizes, typed, 2).latency_s)
    measured = comm.fit_allreduce(sizes, [provenance.mark(t) for t in typed], 2)
    assert provenance.is_measured(measured.latency_s)
    assert provenance.is_measured(measured.bandwidth_bytes_per_s)


@pytest.mark.parametrize("sizes, seconds, devices", [
    ([8, 1024], [2e-6, 1e-6], 2),  # shrinking with the size
    ([8, 8], [1e-6, 2e-6], 2),  # one size only
    ([8, 1024], [1e-6], 2),  # lengths differ
    ([8, 1024], [1e-6, 2e-6], 1),  # one device sends nothing
])
def test_a_fit_that_cannot_be_made_says_so(sizes, seconds, devices):
    with pytest.raises(ValueError):
        comm.fit_allreduce(sizes, seconds, devices)


# ---------------------------------------------------------------- parallel steps of real models


def test_tensor_parallel_decode_of_llama3_70b_by_hand():
    step = comm.tensor_parallel_step("llama-3-70b", "h100-sxm", "nvlink4", 8, 4096, batch=16)
    assert models.param_count(models.get("llama-3-70b")) == LLAMA3_70B_PARAMS
    share = step.share.cost
    assert share.weight_bytes == 2 * LLAMA3_70B_PARAMS // 8
    assert share.kv_read_bytes == 16 * 4096 * LLAMA3_70B_KV_PER_TOKEN // 8
    assert share.kv_write_bytes == 16 * LLAMA3_70B_KV_PER_TOKEN // 8
    # one all-reduce: 16 tokens x 8192 x 2 bytes; two per layer
    assert step.allreduce_bytes == 262_144 and step.allreduces == 160
    # tree (cheaper here): 2 x 262,144 B / 450 GB/s + 2 x 3 rounds x 3 us
    one = 2 * 262_144 / 450e9 + 6 * 3e-6
    assert step.seconds_communication == pytest.approx(160 * one)
    bytes_per_device = share.weight_bytes + share.kv_read_bytes + share.kv_write_bytes
    assert step.seconds_memory == pytest.approx(bytes_per_device / 3.35e12)
    assert step.seconds_compute == 0 and step.bound == "memory" and step.fits
    assert step.seconds == pytest.approx(step.seconds_memory + step.seconds_communication)
    assert step.tokens_per_s == pytest.approx(16 / step.seconds)


def test_one_device_is_the_unsplit_step_with_no_communication():
    step = comm.tensor_parallel_step("llama-3-8b", "h100-sxm", "nvlink4", 1, 1024, batch=4)
    alone = models.decode_time("llama-3-8b", "h100-sxm", 1024, batch=4)
    assert step.seconds_communication == 0
    assert step.seconds == pytest.approx(alone.seconds)
    assert step.share.cost.held_bytes == alone.cost.held_bytes


def test_the_kv_cache_splits_by_kv_heads_and_mla_not_at_all():
    assert comm.kv_shards(models.get("llama-3-70b"), 4) == 4
    assert comm.kv_shards(models.get("llama-3-70b"), 16) == 8  # 8 KV heads
    assert comm.kv_shards(models.get("deepseek-v3"), 8) == 1  # one latent for every head


def test_prefill_is_compute_bound_over_nvlink_and_communication_bound_over_pcie():
    nvlink = comm.tensor_parallel_step("llama-3-70b", "h100-sxm", "nvlink4", 8, 4096,
                                       phase="prefill")
    pcie = comm.tensor_parallel_step("llama-3-70b", "h100-sxm", "pcie4-x16", 8, 4096,
                                     phase="prefill")
    assert nvlink.allreduce_bytes == 4096 * 8192 * 2
    assert nvlink.bound == "compute" and pcie.bound == "communication"
    # ring (cheaper for 64 MiB): 2 x 7/8 x S / 31.5 GB/s + 14 rounds x 3 us, 160 times
    expected = 160 * (1.75 * 4096 * 8192 * 2 / 31.5e9 + 14 * 3e-6)
    assert pcie.seconds_communication == pytest.approx(expected)


def test_faster_hbm_leaves_communication_as_the_bound():
    assert comm.communication_bound_batches("llama-3-70b", "h100-sxm", "nvlink4", 8, 4096) == []
    b200 = comm.communication_bound_batches("llama-3-70b", "b200", "nvlink4", 8, 4096)
    assert b200[0] == 1 and b200 == [2**k for k in range(len(b200))] and 4096 not in b200


def test_moe_dispatch_by_hand():
    # DeepSeek-V3: 256 tokens x top-8 x d_model 7168 x 2 bytes
    assert comm.moe_dispatch_bytes("deepseek-v3", 256) == 29_360_128
    expected = 2 * 58 * (7 / 8 * 29_360_128 / 450e9 + 7 * 3e-6)  # 58 MoE layers of 61
    assert comm.expert_parallel_seconds("deepseek-v3", 256, 8, "nvlink4") == pytest.approx(
        expected)
    with pytest.raises(ValueError, match="no experts"):
        comm.moe_dispatch_bytes("llama-3-70b", 256)


def test_links_state_both_directions_and_c2c_is_in_the_data():
    c2c = hardware.link("nvlink-c2c")
    assert c2c.bandwidth_bytes_per_s == pytest.approx(450e9)
    assert c2c.bidirectional_bytes_per_s == pytest.approx(900e9)


# ---------------------------------------------------------------- the dashboard's pure half


def test_dashboard_readout_splits_the_step_and_says_whether_it_fits():
    step = comm_widgets.parallel_step("llama-3-70b", "h100-sxm", "nvlink4", 8, 16, 4096)
    parts = comm_widgets.step_parts_seconds(step)
    assert sum(parts.values()) == pytest.approx(step.seconds)
    text = comm_widgets.describe_parallel(step, "llama-3-70b", "h100-sxm")
    assert "160 all-reduces of 256 KiB" in text and ": fits" in text
    assert "450 GB/s per direction" in text


def test_dashboard_readout_has_no_e_notation_and_says_what_does_not_fit():
    step = comm_widgets.parallel_step("llama-3-70b", "h100-sxm", "pcie4-x16", 2, 256, 32768,
                                      "prefill")
    text = comm_widgets.describe_parallel(step, "llama-3-70b", "h100-sxm")
    assert "e+" not in text and "e-" not in text
    assert "does NOT fit" in text and "8,388,608 prompt tokens" in text


def test_dashboard_figure_draws_three_parts_per_device_count():
    figure = comm_widgets.parallel_figure("llama-3-8b", "h100-sxm", "nvlink4", 8, 1024)
    bars = figure.axes[0].patches
    assert len(bars) == 3 * 6  # 1 to 32 devices: Llama-3-8B has 32 heads to split
    plt.close(figure)


def test_dashboard_builds_without_a_browser():
    box = comm_widgets.parallel_dashboard()
    assert "fits?" in box.children[3].value


# ---------------------------------------------------------------- without an MPI


@pytest.fixture
def no_mpi(monkeypatch):
    monkeypatch.setattr(comm, "find_mpiexec", lambda: None)


def test_without_mpi_the_measurement_says_how_to_get_one(no_mpi, capsys):
    assert comm.mpi_problem() == comm.NO_MPI_LINE
    with pytest.raises(comm.CommError, match="pip install mpi4py mpich"):
        comm.measure_allreduce(processes=2, sizes_bytes=[8])
    assert comm.try_measure_allreduce(processes=2, sizes_bytes=[8]) is None
    assert comm.NO_MPI_LINE in capsys.readouterr().out
    with pytest.raises(comm.CommError, match="impi-rt"):
        comm.time_allreduce_function(test_one_message_is_latency_plus_bytes_over_bandwidth)


def test_without_mpi4py_the_same_line(monkeypatch):
    monkeypatch.setattr(comm.importlib.util, "find_spec", lambda name: None)
    assert comm.mpi_problem() == comm.NO_MPI_LINE


def test_a_run_that_hangs_fails_or_prints_nothing_gives_a_clear_error():
    python = sys.executable
    with pytest.raises(comm.CommError, match="did not finish within 0.5 s"):
        comm.run_mpi([python, "-c", "import time; time.sleep(30)"], timeout_s=0.5)
    with pytest.raises(comm.CommError, match="exit status 3.*broken"):
        comm.run_mpi([python, "-c", "import sys; print('broken', file=sys.stderr); "
                                    "sys.exit(3)"])
    with pytest.raises(comm.CommError, match="printed no result"):
        comm.run_mpi([python, "-c", "print('hello')"])
    with pytest.raises(comm.CommError, match="could not start"):
        comm.run_mpi(["/nonexistent/mpiexec", "-n", "2"])


def test_the_command_runs_unchanged_on_a_cluster():
    command = comm.allreduce_command(16, [8, 1024], 10, hosts=["node-a", "node-b"])
    assert command[:5] == ["mpiexec", "-n", "16", "-hosts", "node-a,node-b"]
    assert command[5:8] == [sys.executable, "-m", "memwall_lab.comm"]
    assert command[8:] == ["allreduce", "--sizes", "8,1024", "--repeats", "10", "--json"]


def test_default_sizes_run_from_8_bytes_and_fit_in_memory():
    quick, full = comm.default_sizes_bytes(2, quick=True), comm.default_sizes_bytes(2, quick=False)
    assert quick[0] == full[0] == 8 and quick[-1] <= 2 * 1024**2 < full[-1] <= 32 * 1024**2
    assert 2 <= comm.default_processes() <= comm.MAX_PROCESSES


# ---------------------------------------------------------------- with a real MPI, 2 ranks

needs_mpi = pytest.mark.skipif(comm.mpi_problem() is not None, reason="no MPI installed")


def ring_allreduce(comm, data):
    """Sum `data` over all ranks round a ring: reduce-scatter, then all-gather."""
    rank, size = comm.Get_rank(), comm.Get_size()
    right, left = (rank + 1) % size, (rank - 1) % size
    total = data.copy()
    chunks = np.array_split(total, size)
    incoming = np.empty_like(chunks[0])
    for step in range(size - 1):
        send, receive = (rank - step) % size, (rank - step - 1) % size
        buffer = incoming[:len(chunks[receive])]
        comm.Sendrecv(chunks[send], dest=right, recvbuf=buffer, source=left)
        chunks[receive] += buffer
    for step in range(size - 1):
        send, receive = (rank - step + 1) % size, (rank - step) % size
        comm.Sendrecv(chunks[send], dest=right, recvbuf=chunks[receive], source=left)
    return total


def no_reduction(comm, data):
    """Return the rank's own data: not an all-reduce."""
    return data


def raises(comm, data):
    """Fail on every rank."""
    raise RuntimeError("this all-reduce is broken")


def deadlock(comm, data):
    """Every rank receives first, so none ever sends."""
    buffer = np.empty_like(data)
    comm.Recv(buffer, source=(comm.Get_rank() + 1) % comm.Get_size())
    return buffer


@needs_mpi
def test_mpiexec_runs_allreduce_in_two_ranks_and_times_grow_with_size():
    sizes = [8, 65_536, 4 * 1024**2]
    sweep = comm.measure_allreduce(processes=2, sizes_bytes=sizes, repeats=3, timeout_s=60)
    assert sweep.processes == 2 and sweep.sizes_bytes == tuple(sizes) and sweep.library
    assert all(0 < seconds < 1 for seconds in sweep.seconds)
    assert sweep.seconds[0] < sweep.seconds[-1]
    assert all(provenance.is_measured(seconds) for seconds in sweep.seconds)
    fit = sweep.fit()
    assert fit.bandwidth_bytes_per_s > 1e7 and provenance.is_measured(fit.bandwidth_bytes_per_s)


@needs_mpi
def test_the_module_runs_under_mpiexec_and_prints_json():
    command = comm.allreduce_command(2, [8, 1024], 3, mpiexec=comm.find_mpiexec())
    finished = subprocess.run(command, capture_output=True, text=True, timeout=60,
                              env=comm._environment(), check=True)
    result = comm.json.loads(finished.stdout.strip().splitlines()[-1])
    assert result["collective"] == "allreduce" and result["processes"] == 2
    assert result["sizes_bytes"] == [8, 1024] and len(result["seconds"]) == 2


@needs_mpi
def test_a_users_ring_is_checked_and_timed_beside_mpis_own():
    timing = comm.time_allreduce_function(ring_allreduce, processes=2, size_bytes=1 << 20,
                                          repeats=3, timeout_s=60)
    assert timing.correct and timing.seconds > 0 and timing.mpi_seconds > 0
    assert provenance.is_measured(timing.seconds)
    wrong = comm.time_allreduce_function(no_reduction, processes=2, size_bytes=1024, repeats=1,
                                         timeout_s=60)
    assert not wrong.correct


@needs_mpi
def test_a_users_function_that_raises_stops_every_rank_with_its_message():
    with pytest.raises(comm.CommError, match="this all-reduce is broken"):
        comm.time_allreduce_function(raises, processes=2, size_bytes=1024, timeout_s=60)


@needs_mpi
def test_a_users_function_that_hangs_is_stopped_at_the_timeout():
    with pytest.raises(comm.CommError, match="did not finish within 3 s"):
        comm.time_allreduce_function(deadlock, processes=2, size_bytes=1024, timeout_s=3)
