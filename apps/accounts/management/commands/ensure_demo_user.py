from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import User


class Command(BaseCommand):
    help = (
        "Create the local demo user (demo / demo) if it does not exist. Refused when DEBUG is off."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo")

    def handle(self, *args, username: str, password: str, **options):
        if not settings.DEBUG:
            raise CommandError("ensure_demo_user only runs with DEBUG on (local development).")
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Demo user exists: {username}")
            return
        user = User(username=username, email=f"{username}@example.com")
        user.set_password(password)
        user.save()
        self.stdout.write(self.style.SUCCESS(f"Created demo user {username} / {password}"))
