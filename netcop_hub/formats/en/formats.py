# "7 Dec 2026" and "7 Dec 2026, 14:05", as the customer pages and emails write them. Django's English
# defaults ("Dec. 7, 2026, 2:05 p.m.") mixed with those in the admin. Input formats stay Django's.
DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "j F"
