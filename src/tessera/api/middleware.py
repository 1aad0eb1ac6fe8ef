"""An import of codes may be larger than Django's general body limit (DATA_UPLOAD_MAX_MEMORY_SIZE,
2.5 MB), which every other request keeps: the most codes one request imports (IN_REQUEST_MAX,
100,000) are about 1.5 MB of JSON at twelve symbols a code and 3.5 MB at the longest, 31."""

import re

from tessera.core.middleware import LargeBodyMiddleware

IMPORT_PATH = re.compile(r"/api/v1/offers/\d+/imports")
IMPORT_MAX_BYTES = 8 * 1024 * 1024


class CodesImportBodyMiddleware(LargeBodyMiddleware):
    @property
    def max_bytes(self) -> int:
        return IMPORT_MAX_BYTES

    @property
    def too_large(self) -> str:
        return f"An import is at most {IMPORT_MAX_BYTES // (1024 * 1024)} MB; send it in parts."

    def applies(self, path: str) -> bool:
        return IMPORT_PATH.fullmatch(path) is not None
