from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api import services


class Command(BaseCommand):
    help = "Create an API token for a staff user and print it on the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="Command line", help="What uses the token (shown on the tokens page).")

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user is called “{username}”.")
        if not (user.is_active and user.is_staff):
            raise CommandError(f"“{username}” is not an active staff account; the API is for staff only.")
        token, secret = services.api_token_create(user=user, name=name)
        self.stderr.write(f"Token “{token.name}” for {username}; it is shown only this once.")
        self.stdout.write(secret)
