"""What the platform commands' tests share: the credentials a command printed."""

import re

from tessera.platforms.models import Platform
from tessera.platforms.services import Credentials


def credentials_printed(out: str) -> Credentials:
    """The client id and secret in `create_platform`'s or `rotate_platform_secret`'s output, with
    the platform they are the credentials of."""
    client_id = re.search(r"^client_id: (\S+)$", out, re.MULTILINE)
    secret = re.search(r"^client_secret \(shown only now\): (\S+)$", out, re.MULTILINE)
    assert client_id, out
    assert secret, out
    platform = Platform.objects.get(application__client_id=client_id[1])
    return Credentials(platform=platform, client_id=client_id[1], client_secret=secret[1])
