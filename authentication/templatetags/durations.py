from django import template

from authentication.durations import in_words

register = template.Library()


@register.filter
def duration_words(value):
    """{{ cooloff_timedelta|duration_words }} -> "15 minutes"."""
    return in_words(value)
