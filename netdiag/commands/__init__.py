"""One module per netdiag sub-command; ``netdiag.cli`` lists them."""
