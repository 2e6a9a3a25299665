"""Persona pages: list, detail, create (with "character from image"), edit, delete.

Like the API they run PersonaInputSerializer and one service; another user's persona is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.exceptions import ApplicationError, NotFound
from apps.generation.selectors import generation_list

from .apis import PersonaDraftThrottle
from .forms import PersonaDraftForm, PersonaForm
from .models import Persona
from .selectors import persona_get, persona_list
from .serializers import PersonaInputSerializer
from .services import persona_create, persona_delete, persona_draft_from_image, persona_update


def _persona_or_404(request, pk) -> Persona:
    try:
        return persona_get(user=request.user, persona_id=pk)
    except NotFound:
        raise Http404("No such persona.")


@login_required
@require_http_methods(["GET"])
def persona_list_page(request):
    context = {
        "personas": persona_list(user=request.user),
        "page_title": "Personas",
        "page_description": "Your recurring characters, reused across videos.",
    }
    return render(request, "personas/list.html", context)


@login_required
@require_http_methods(["GET"])
def persona_detail_page(request, pk):
    persona = _persona_or_404(request, pk)
    context = {
        "persona": persona,
        "defaults": sorted(persona.defaults.items()),
        "generations": generation_list(user=request.user).filter(persona=persona)[:6],
        "page_title": f"Persona: {persona.name}",
        "page_description": "A recurring character on AI Lounge.",
    }
    return render(request, "personas/detail.html", context)


def _save(request, form: PersonaForm, persona: Persona | None):
    """Validate with the API's serializer and call the service; None when it failed."""
    if not form.is_valid():
        return None
    body = PersonaInputSerializer(data=form.api_data(), partial=persona is not None)
    if not body.is_valid():
        form.add_api_errors(body.errors)
        return None
    try:
        if persona is None:
            return persona_create(user=request.user, **body.validated_data)
        return persona_update(persona=persona, **body.validated_data)
    except ApplicationError as exc:
        form.add_service_error(exc.message)
        return None


def _form_page(request, form, *, persona=None, status=200, draft=None, draft_form=None):
    context = {
        "form": form,
        "persona": persona,
        "draft": draft,
        "draft_form": draft_form or PersonaDraftForm(),
        "page_title": f"Edit {persona.name}" if persona else "New persona",
        "page_description": "Describe a recurring character for your videos.",
    }
    return render(request, "personas/form.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def persona_create_page(request):
    if request.method == "GET":
        return _form_page(request, PersonaForm())
    form = PersonaForm(request.POST, request.FILES)
    persona = _save(request, form, None)
    if persona is None:
        return _form_page(request, form, status=400)
    messages.success(request, f"Persona “{persona.name}” created.")
    return redirect("personas:detail", pk=persona.pk)


@login_required
@require_POST
def persona_draft_page(request):
    """Character from image: the new-persona form, filled in from the uploaded picture."""
    draft_form = PersonaDraftForm(request.POST, request.FILES)
    if not PersonaDraftThrottle().allow_request(request, None):
        draft_form.add_error(None, "Too many drafts in a short time: try again later.")
        return _form_page(request, PersonaForm(), draft_form=draft_form, status=429)
    if not draft_form.is_valid():
        return _form_page(request, PersonaForm(), draft_form=draft_form, status=400)
    try:
        draft = persona_draft_from_image(image=draft_form.cleaned_data["image"])
    except ApplicationError as exc:
        draft_form.add_error("image", exc.message.partition(": ")[2] or exc.message)
        return _form_page(request, PersonaForm(), draft_form=draft_form, status=400)
    form = PersonaForm(
        initial={"name": draft.name, "description": draft.description, "style": draft.style}
    )
    return _form_page(request, form, draft=draft)


@login_required
@require_http_methods(["GET", "POST"])
def persona_edit_page(request, pk):
    persona = _persona_or_404(request, pk)
    if request.method == "GET":
        return _form_page(request, PersonaForm(persona=persona), persona=persona)
    form = PersonaForm(request.POST, request.FILES, persona=persona)
    if _save(request, form, persona) is None:
        persona.refresh_from_db()
        return _form_page(request, form, persona=persona, status=400)
    messages.success(request, f"Persona “{persona.name}” saved.")
    return redirect("personas:detail", pk=persona.pk)


@login_required
@require_POST
def persona_delete_page(request, pk):
    persona = _persona_or_404(request, pk)
    name = persona.name
    persona_delete(persona=persona)
    messages.success(request, f"Persona “{name}” deleted.")
    return redirect("personas:list")
