"""Date formats of the site (FORMAT_MODULE_PATH): one format everywhere, admin included."""
