"""appliance: modules imported by name at run time (the CLI's lazy role imports, alembic's
env.py and migrations, read from disk as scripts, not imported as modules)."""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules

# Every module: the CLI imports each role's code inside its command, which the analysis cannot
# see from entry.py. The migrations folder is not a package: its scripts are data files that
# alembic executes from MIGRATIONS_DIR, next to appliance/db/migrate.py inside the bundle.
hiddenimports = collect_submodules("appliance", filter=lambda name: ".migrations" not in name)
datas = collect_data_files("appliance", include_py_files=True, subdir="db/migrations")
