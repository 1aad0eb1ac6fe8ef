"""The voucher app's own permission, named once: the staff pages, the staff API, the admin and the
tests all check this string, so granting it means the same on every door."""

MANAGE_VOUCHERS_CODENAME = "manage_vouchers"
MANAGE_VOUCHERS = f"vouchers.{MANAGE_VOUCHERS_CODENAME}"
