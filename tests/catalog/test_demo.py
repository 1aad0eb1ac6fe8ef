"""The demo catalog and users (tessera.catalog.demo)."""

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password

from tessera.catalog.demo import demo_users_reset


class TestDemoUsers:
    def test_the_demo_users_passwords_pass_the_rules(self, db):
        passwords = demo_users_reset()
        for username, password in passwords.items():
            validate_password(password, User.objects.get(username=username))
