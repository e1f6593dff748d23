from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from .models import User


class SignUpForm(forms.ModelForm):
    """Email, display name and the password twice, checked by Django's password validators."""

    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Confirm password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = User
        fields = ["email", "username"]
        labels = {"username": "Display name"}
        widgets = {
            "email": forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
            "username": forms.TextInput(attrs={"autocomplete": "nickname"}),
        }

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists. Try logging in.")
        return email

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords do not match.")
        elif p1:
            candidate = User(email=cleaned.get("email", ""), username=cleaned.get("username", ""))
            try:
                password_validation.validate_password(p1, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned

    def save(self, commit=True):
        return User.objects.create_user(
            email=self.cleaned_data["email"],
            password=self.cleaned_data["password1"],
            username=self.cleaned_data["username"],
        )


class EmailAuthenticationForm(AuthenticationForm):
    """Django's login form, labelled for email."""

    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account. Check both and try again.",
    }


class DisplayNameForm(forms.ModelForm):
    """The account page's editable part: the name shown in the app and in receipts."""

    class Meta:
        model = User
        fields = ["username"]
        labels = {"username": "Display name"}
        help_texts = {"username": "How we greet you in emails such as top-up receipts."}
        widgets = {"username": forms.TextInput(attrs={"autocomplete": "nickname"})}

    def clean_username(self):
        name = self.cleaned_data["username"].strip()
        if not name:
            raise forms.ValidationError("Enter a display name.")
        return name
