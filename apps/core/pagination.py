"""The API's pagination: DRF's page numbers, where a page that is not a number is a 404 too."""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination


class PageNumbers(PageNumberPagination):
    def get_page_number(self, request, paginator):
        # DRF reads `?page=` (empty) as page 1; the schema says an integer, so it is refused.
        value = request.query_params.get(self.page_query_param)
        if value is not None and not value.isdigit() and value not in self.last_page_strings:
            raise NotFound(self.invalid_page_message.format(page_number=value, message=""))
        return super().get_page_number(request, paginator)
