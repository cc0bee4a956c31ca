"""Runtime plugins: one module per runtime. Each imports its framework only inside `load`."""
