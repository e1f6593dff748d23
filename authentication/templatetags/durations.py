from django import template

from netcop_hub.durations import in_words

register = template.Library()


@register.filter
def duration_words(value):
    """{{ cooloff_timedelta|duration_words }} -> "15 minutes"."""
    return in_words(value)
