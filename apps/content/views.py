"""Content pages: the public gallery (/explore/), share pages (/v/<id>/) with OpenGraph and
Twitter player tags, and the owner's library (/gallery/) with publish / hide / title controls.

They call the same selectors and services as the API; what a visitor may not see is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.exceptions import ApplicationError, NotFound
from apps.generation.models import Generation
from apps.personas.selectors import persona_list

from .forms import ContentItemForm, ReportForm
from .models import ContentItem, ModerationAction, Report
from .selectors import (
    content_get_for_owner,
    content_get_for_viewer,
    content_list_for_owner,
    content_public_list,
)
from .serializers import content_media_url
from .services import content_item_update, content_report

PER_PAGE = 24


SORTS = {"newest": ("-created_at", "-id"), "oldest": ("created_at", "id")}
KIND_CHOICES = [
    ("", "All"),
    (Generation.Kind.IMAGE_TO_VIDEO, "Image → Video"),
    (Generation.Kind.TEXT_TO_VIDEO, "Text → Video"),
    (Generation.Kind.STORYBOARD, "Storyboard"),
]
SORT_CHOICES = [("newest", "Newest first"), ("oldest", "Oldest first")]
VISIBILITY_CHOICES = [("", "Any")] + [
    (value, label.capitalize()) for value, label in ContentItem.Visibility.choices
]
MODERATION_CHOICES = [("", "Any")] + [
    (value, label.capitalize()) for value, label in ContentItem.ModerationStatus.choices
]


def _choice(request, name: str, choices) -> str:
    """The query's value for a filter when it is one of the choices, else the first (none)."""
    value = request.GET.get(name, "")
    return value if value in {key for key, _ in choices} else choices[0][0]


def _filter_items(items, request, *, owner: bool = False, personas=()):
    """Narrow a library queryset by the page's filters; returns (items, the filters shown).

    Everyone filters by kind and sorts; the owner's gallery adds visibility, review state and
    (when the user has any) persona.
    """
    persona_choices = [("", "Any")] + [(str(p.pk), p.name) for p in personas]
    chosen = {
        "kind": _choice(request, "kind", KIND_CHOICES),
        "sort": _choice(request, "sort", SORT_CHOICES),
    }
    if chosen["kind"]:
        items = items.filter(generation__kind=chosen["kind"])
    if owner:
        chosen["persona"] = _choice(request, "persona", persona_choices) if personas else ""
        chosen["visibility"] = _choice(request, "visibility", VISIBILITY_CHOICES)
        chosen["moderation"] = _choice(request, "moderation", MODERATION_CHOICES)
        if chosen["persona"]:
            items = items.filter(persona_id=chosen["persona"])
        if chosen["visibility"]:
            items = items.filter(visibility=chosen["visibility"])
        if chosen["moderation"]:
            items = items.filter(moderation_status=chosen["moderation"])
    filters = [
        {"name": "kind", "label": "Kind", "choices": KIND_CHOICES, "value": chosen["kind"]},
    ]
    if owner and personas:
        filters.append(
            {
                "name": "persona",
                "label": "Persona",
                "choices": persona_choices,
                "value": chosen["persona"],
            }
        )
    if owner:
        filters += [
            {
                "name": "visibility",
                "label": "Visibility",
                "choices": VISIBILITY_CHOICES,
                "value": chosen["visibility"],
            },
            {
                "name": "moderation",
                "label": "Review",
                "choices": MODERATION_CHOICES,
                "value": chosen["moderation"],
            },
        ]
    filters.append(
        {"name": "sort", "label": "Sort", "choices": SORT_CHOICES, "value": chosen["sort"]}
    )
    active = any(value and name != "sort" for name, value in chosen.items()) or (
        chosen["sort"] != "newest"
    )
    return items.order_by(*SORTS[chosen["sort"]]), {"fields": filters, "active": active}


@require_http_methods(["GET"])
def explore(request):
    items, filters = _filter_items(content_public_list(), request)
    page = Paginator(items, PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "items": page.object_list,
        "filters": filters,
        "page_title": "Explore",
        "page_description": "Short videos made on AI Lounge, shared by their makers.",
    }
    return render(request, "content/explore.html", context)


def _viewable_or_404(request, pk) -> ContentItem:
    try:
        return content_get_for_viewer(user=request.user, item_id=pk)
    except NotFound:
        raise Http404("No such video.")


@require_http_methods(["GET"])
def share(request, pk):
    item = _viewable_or_404(request, pk)
    user = request.user
    is_owner = user.is_authenticated and item.owner_id == user.pk
    rejection = None
    if item.is_removed and (is_owner or user.is_staff):
        rejection = (
            ModerationAction.objects.filter(item=item, action=ModerationAction.Action.REJECT)
            .only("reason", "created_at")
            .first()
        )
    can_report = (
        user.is_authenticated
        and not is_owner
        and not Report.objects.filter(item=item, reporter=user).exists()
    )
    generation = item.generation
    context = {
        "item": item,
        "generation": generation,
        "is_owner": is_owner,
        "rejection": rejection,
        "form": ContentItemForm(item=item) if is_owner else None,
        "report_form": ReportForm() if can_report else None,
        "video_url": content_media_url(item, "video", request),
        "thumbnail_url": content_media_url(item, "thumbnail", request),
        "share_url": request.build_absolute_uri(),
        "indexable": item.is_shared and item.visibility == ContentItem.Visibility.PUBLIC,
        "page_title": item.title or "A video on AI Lounge",
        "page_description": (
            f"A short video by {item.owner.username} on AI Lounge"
            + (f", starring {item.persona.name}." if item.persona_id else ".")
        ),
    }
    return render(request, "content/share.html", context)


@login_required
@require_http_methods(["GET"])
def gallery(request):
    items, filters = _filter_items(
        content_list_for_owner(user=request.user),
        request,
        owner=True,
        personas=list(persona_list(user=request.user)),
    )
    page = Paginator(items, PER_PAGE).get_page(request.GET.get("page"))
    rows = [(item, ContentItemForm(item=item)) for item in page.object_list]
    context = {
        "page": page,
        "rows": rows,
        "can_publish": request.user.can_publish,
        "filters": filters,
        "page_title": "My gallery",
        "page_description": "Your finished videos: publish, share by link or keep private.",
    }
    return render(request, "content/gallery.html", context)


def _back(request, item: ContentItem):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("content:share", pk=item.pk)


@login_required
@require_POST
def update(request, pk):
    try:
        item = content_get_for_owner(user=request.user, item_id=pk)
    except NotFound:
        raise Http404("No such video.")
    form = ContentItemForm(request.POST, item=item)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return _back(request, item)
    try:
        content_item_update(item=item, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _saved_message(item))
    return _back(request, item)


def _saved_message(item: ContentItem) -> str:
    if item.visibility == ContentItem.Visibility.PRIVATE:
        return "Saved. The video is private."
    where = "in the public gallery" if item.visibility == "public" else "to anyone with the link"
    if item.moderation_status == ContentItem.ModerationStatus.APPROVED:
        return f"Saved. The video is visible {where}."
    if item.moderation_status == ContentItem.ModerationStatus.PENDING:
        return f"Saved. The video will be visible {where} once a moderator approves it."
    return "Saved. The video was removed by moderators, so nobody else can see it."


@login_required
@require_POST
def report(request, pk):
    item = _viewable_or_404(request, pk)
    form = ReportForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say what is wrong with this video to report it.")
        return redirect("content:share", pk=item.pk)
    try:
        content_report(item=item, reporter=request.user, reason=form.cleaned_data["reason"])
    except ApplicationError as exc:
        messages.warning(request, exc.message)
    else:
        messages.success(request, "Thanks: the moderators will look at this video.")
    return redirect("content:share", pk=item.pk)
