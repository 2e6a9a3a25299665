"""The content pages' forms: an owner's title and visibility, and a report."""

from __future__ import annotations

from django import forms

from .models import ContentItem

VISIBILITY_HELP = {
    "private": "Only you (and moderators) can watch it.",
    "unlisted": "Anyone with the link can watch it once approved; it is not in the gallery.",
    "public": "In the public gallery once approved.",
}


class ContentItemForm(forms.Form):
    title = forms.CharField(
        label="Title",
        required=False,
        max_length=ContentItem._meta.get_field("title").max_length,
    )
    visibility = forms.ChoiceField(
        label="Visibility",
        choices=ContentItem.Visibility.choices,
        help_text=" ".join(f"{k.capitalize()}: {v}" for k, v in VISIBILITY_HELP.items()),
    )

    def __init__(self, *args, item: ContentItem, **kwargs):
        kwargs.setdefault("initial", {"title": item.title, "visibility": item.visibility})
        kwargs.setdefault("auto_id", f"item-{item.pk}-%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ReportForm(forms.Form):
    reason = forms.CharField(
        label="What is wrong with this video?",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 1000}),
    )
