"""The `classify` commands that have a module of their own (the app is classify.cli).

Command-line layer: these modules parse arguments, call one library function, print and map
errors to exit codes; no library module imports them.
"""
