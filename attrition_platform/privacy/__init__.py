"""Privacy duties of the platform: log retention, the right to erasure, the suppression list.

Graph-side only (pandas and pyarrow allowed here); serving never imports this package.
See docs/privacy.md.
"""
