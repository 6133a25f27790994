"""One module per outside service; every client raises the family in `errors`."""
