from django import template

register = template.Library()


@register.filter
def invalid_fields(form):
    """The visible fields that have errors, in the form's order (for an error summary)."""
    return [field for field in form.visible_fields() if field.errors]
