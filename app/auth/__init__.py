"""Login and logout for staff, analysts and administrators."""
