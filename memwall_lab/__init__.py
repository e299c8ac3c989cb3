"""memwall_lab: a hands-on course on the memory wall, measured on your own machine."""

__version__ = "0.1.0"
