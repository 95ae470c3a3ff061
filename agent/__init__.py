"""The homediag agent: runs on the home hub, records evidence, ships signed bundles."""
