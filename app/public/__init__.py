"""The citizen's side: survey pages, without login."""
