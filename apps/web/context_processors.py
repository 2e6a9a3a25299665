"""What every page's layout needs: the site name, the page's own title and description
(for <title>, meta description, OpenGraph and Twitter tags) and the signed-in user's balance.

Views may pass `page_title` / `page_description` themselves; those win over the defaults here,
which also cover pages rendered by allauth's views (sign in, sign up, sign out).
`default_og_image` is the static social card, the og:image/twitter:image of every page that has
no picture of its own (an absolute URL: link previews fetch it from elsewhere).
"""

from __future__ import annotations

from django.conf import settings
from django.templatetags.static import static

from apps.billing.selectors import credits_balance

DEFAULT_DESCRIPTION = (
    "AI Lounge turns a picture or a prompt into a short video: upload an image or describe a "
    "scene, watch the progress live, and download a browser-ready MP4."
)

SOCIAL_CARD = "img/social-card.png"  # 1200x630

# view name -> (title, description)
PAGES = {
    "web:home": ("Turn images and prompts into short videos", DEFAULT_DESCRIPTION),
    "web:create": (
        "Create a video",
        "Start a new video: animate an image or generate a clip from a text prompt.",
    ),
    "web:jobs": ("My videos", "Your generations, newest first, with their status."),
    "account_login": ("Sign in", "Sign in to AI Lounge to create and watch your videos."),
    "account_signup": (
        "Create an account",
        "Create a free AI Lounge account and get free credits to make your first videos.",
    ),
    "account_logout": ("Sign out", "Sign out of AI Lounge."),
    "account_reset_password": ("Reset your password", "Get a link to reset your password."),
    "account_reset_password_done": ("Check your email", "A password reset link is on its way."),
    "account_reset_password_from_key": ("Choose a new password", "Set a new password."),
    "account_reset_password_from_key_done": ("Password changed", "Your password is changed."),
    "account_change_password": ("Change your password", "Change your AI Lounge password."),
    "account_email": ("Email addresses", "Manage the email addresses on your account."),
    "account_set_password": ("Set a password", "Set a password for your AI Lounge account."),
    "account_inactive": ("Account inactive", "This account is inactive."),
    "account_reauthenticate": ("Confirm it is you", "Enter your password to continue."),
    "account_email_verification_sent": ("Verify your email", "A confirmation link is on its way."),
    "account_confirm_email": ("Confirm your email", "Confirm the email address of your account."),
}


def site(request) -> dict:
    match = getattr(request, "resolver_match", None)
    title, description = PAGES.get(match.view_name if match else "", ("", DEFAULT_DESCRIPTION))
    user = getattr(request, "user", None)
    context = {
        "SITE_NAME": settings.SITE_NAME,
        "page_title": title,
        "page_description": description,
        "default_og_image": request.build_absolute_uri(static(SOCIAL_CARD)),
    }
    if user is not None and user.is_authenticated:
        context["credits_balance"] = credits_balance(user=user)
    return context
