"""Account forms, all in one wording: labels, "Enter ..." for a missing value, and every error of a
form found in one round (a mismatch never hides a weak password)."""

from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import password_validation

from .models import User
from .validators import DISPLAY_NAME_MAX_LENGTH, TOO_LONG

MISMATCH = "The two passwords do not match."
PASSWORD_RULES = password_validation.password_validators_help_text_html


class FocusFirstErrorMixin:
    """After a failed submit, the first field with an error gets the focus (not the page's first field)."""

    def full_clean(self):
        super().full_clean()
        if not (self.is_bound and self._errors):
            return
        first = next((name for name in self.fields if name in self._errors), None)
        if first is None:
            return
        for field in self.fields.values():
            field.widget.attrs.pop("autofocus", None)
        self.fields[first].widget.attrs["autofocus"] = True


def email_field(**attrs):
    return forms.EmailField(
        label="Email",
        max_length=254,
        error_messages={"required": "Enter your email address.",
                        "invalid": "Enter an email address like name@example.com."},
        widget=forms.EmailInput(attrs={"autocomplete": "email", **attrs}),
    )


def display_name_field(help_text=""):
    # The model's validator refuses control and bidi characters and links (here, in the admin, anywhere).
    return forms.CharField(
        label="Display name",
        max_length=DISPLAY_NAME_MAX_LENGTH,
        help_text=help_text,
        error_messages={"required": "Enter a display name.", "max_length": TOO_LONG},
        widget=forms.TextInput(attrs={"autocomplete": "nickname"}),
    )


def password_field(label, autocomplete, help_text="", required="Enter your password.", **attrs):
    return forms.CharField(
        label=label,
        strip=False,
        help_text=help_text,
        error_messages={"required": required},
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete, **attrs}),
    )


def check_new_password(form, user, field1, field2):
    """The new password's strength (on the first field, where the rules are) and the match, together."""
    p1, p2 = form.cleaned_data.get(field1), form.cleaned_data.get(field2)
    if p1:
        try:
            password_validation.validate_password(p1, user)
        except forms.ValidationError as error:
            form.add_error(field1, error)
    if p1 and p2 and p1 != p2:
        form.add_error(field2, MISMATCH)


class SignUpForm(FocusFirstErrorMixin, forms.ModelForm):
    """Email, display name and the password twice, checked by Django's password validators."""

    email = email_field(autofocus=True)
    username = display_name_field()
    password1 = password_field("Password", "new-password", help_text=PASSWORD_RULES(),
                               required="Choose a password.")
    password2 = password_field("Confirm password", "new-password", required="Enter the password again.")

    class Meta:
        model = User
        fields = ["email", "username"]

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists. Try logging in.")
        return email

    def clean(self):
        cleaned = super().clean()
        candidate = User(email=cleaned.get("email", ""), username=cleaned.get("username", ""))
        check_new_password(self, candidate, "password1", "password2")
        return cleaned

    def save(self, commit=True):
        return User.objects.create_user(
            email=self.cleaned_data["email"],
            password=self.cleaned_data["password1"],
            username=self.cleaned_data["username"],
        )


class EmailAuthenticationForm(FocusFirstErrorMixin, auth_forms.AuthenticationForm):
    """Django's login form, labelled for email."""

    username = email_field(autofocus=True)
    password = password_field("Password", "current-password")

    error_messages = {
        **auth_forms.AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account. Check both and try again.",
        "inactive": "This account is disabled. Contact support if you think this is a mistake.",
    }


class PasswordResetForm(FocusFirstErrorMixin, auth_forms.PasswordResetForm):
    email = email_field(autofocus=True)


class SetPasswordForm(FocusFirstErrorMixin, auth_forms.SetPasswordForm):
    """Choose a new password (from a reset link)."""

    new_password1 = password_field("New password", "new-password", help_text=PASSWORD_RULES(),
                                   required="Choose a new password.", autofocus=True)
    new_password2 = password_field("Confirm new password", "new-password",
                                   required="Enter the new password again.")

    def clean(self):
        # Not SetPasswordForm.clean: it skips the strength check when the two differ.
        cleaned = forms.Form.clean(self)
        check_new_password(self, self.user, "new_password1", "new_password2")
        return cleaned


class PasswordChangeForm(SetPasswordForm, auth_forms.PasswordChangeForm):
    """Change the password: the current one, then the new one twice."""

    error_messages = {
        **auth_forms.PasswordChangeForm.error_messages,
        "password_incorrect": "Your current password is not correct.",  # nosec B105 - a message, not a password
    }
    old_password = password_field("Current password", "current-password",
                                  required="Enter your current password.", autofocus=True)
    new_password1 = password_field("New password", "new-password", help_text=PASSWORD_RULES(),
                                   required="Choose a new password.")

    field_order = ["old_password", "new_password1", "new_password2"]


class DisplayNameForm(FocusFirstErrorMixin, forms.ModelForm):
    """The account page's editable part: the name we greet you with."""

    username = display_name_field(help_text="How we greet you in emails such as top-up receipts.")

    class Meta:
        model = User
        fields = ["username"]

    def clean_username(self):
        name = self.cleaned_data["username"].strip()
        if not name:
            raise forms.ValidationError("Enter a display name.")
        return name
