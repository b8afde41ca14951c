"""A product's field sizes. Plain constants, without Django, so that the import's parser process
(imports.parser_process) checks rows against the same limits without loading Django."""

SKU_MAX_LENGTH = 64
NAME_MAX_LENGTH = 255
PRICE_MAX_DIGITS = 12
PRICE_DECIMAL_PLACES = 2
