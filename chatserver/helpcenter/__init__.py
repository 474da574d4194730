"""The public help centre: pages (articles, categories, search, languages) and helpful votes."""

from chatserver.helpcenter.pages import routes

__all__ = ["routes"]
