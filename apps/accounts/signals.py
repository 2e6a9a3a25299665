"""Every new user, however created (sign-up, API, admin, createsuperuser), gets the free grant."""

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.user_created")
def user_created(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if not created or raw:
        return
    from apps.accounts.services import user_on_created

    user_on_created(user=instance)
