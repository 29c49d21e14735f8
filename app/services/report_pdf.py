"""Placeholder; replaced below."""
def build_report(session, filters, minimum, now):
    return b"%PDF-1.4"
