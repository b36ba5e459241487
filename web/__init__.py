"""The staff workbench in the browser (``qinlin web``): a face over the same services as chat.

Pages are rendered on the server from templates shipped in this package; the only script and
style sheet are files in ``web/static`` — nothing is fetched from the internet.
"""
