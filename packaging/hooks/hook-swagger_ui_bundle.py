"""The API's /docs page serves Swagger UI's files from this package."""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("swagger_ui_bundle")
