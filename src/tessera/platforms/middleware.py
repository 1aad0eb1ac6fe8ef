"""A catalog import's body may be larger than Django's general limit (DATA_UPLOAD_MAX_MEMORY_SIZE,
2.5 MB), which every other request keeps: ten thousand sessions, the most one import carries,
are about 2.6 MB of JSON with short titles and several times that with long ones."""

from tessera.core.middleware import LargeBodyMiddleware

IMPORT_PATH = "/api/v1/platform/catalog:import"
IMPORT_MAX_BYTES = 16 * 1024 * 1024


class CatalogImportBodyMiddleware(LargeBodyMiddleware):
    @property
    def max_bytes(self) -> int:
        return IMPORT_MAX_BYTES

    @property
    def too_large(self) -> str:
        return f"A catalog import is at most {IMPORT_MAX_BYTES // (1024 * 1024)} MB; send it in parts."

    def applies(self, path: str) -> bool:
        return path == IMPORT_PATH
