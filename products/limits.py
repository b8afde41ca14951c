"""A product's field sizes. Plain constants, without Django, so that the import's parser process
(imports.parser_process) checks rows against the same limits without loading Django."""

SKU_MAX_LENGTH = 64
NAME_MAX_LENGTH = 255
PRICE_MAX_DIGITS = 12
PRICE_DECIMAL_PLACES = 2

# One message per rule, wherever it is checked: the staff form and the import's parser.
SKU_REQUIRED_MESSAGE = "SKU is required."
SKU_TOO_LONG_MESSAGE = f"SKU is longer than {SKU_MAX_LENGTH} characters."
NAME_REQUIRED_MESSAGE = "Name is required."
NAME_TOO_LONG_MESSAGE = f"Name is longer than {NAME_MAX_LENGTH} characters."
PRICE_INVALID_MESSAGE = "Price is not a number (write it like 19.99)."
PRICE_NEGATIVE_MESSAGE = "Price cannot be negative."
PRICE_TOO_LARGE_MESSAGE = "Price is too large."
PRICE_DECIMALS_MESSAGE = f"Price has more than {PRICE_DECIMAL_PLACES} decimals."
