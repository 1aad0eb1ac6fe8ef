from django.contrib.auth import views as auth
from django.urls import path

from tessera.web import redeem, views

app_name = "web"

urlpatterns = [
    path("assessments/<slug:slug>", views.assessment_detail, name="assessment_detail"),
    path("courses", views.course_list, name="course_list"),
    path("courses/<slug:slug>", views.course_detail, name="course_detail"),
    path("dashboard", views.dashboard, name="dashboard"),
    path("login", views.LoginView.as_view(), name="login"),
    path("logout", auth.LogoutView.as_view(), name="logout"),
    path("redeem", redeem.redeem_link, name="redeem"),
    path("signup", views.signup, name="signup"),
]
