"""The demo catalog and users (tessera.catalog.demo): a running, an ended and an upcoming session
whose dates stay relative to today however often it is loaded; users with new passwords each time."""

from datetime import timedelta

from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password

from tessera.catalog.demo import demo_assessment_load, demo_catalog_load, demo_users_reset
from tessera.catalog.models import Assessment, Course, CourseSession, Exam


class TestDemoCatalog:
    def test_a_running_an_ended_and_an_upcoming_session(self, db, now):
        running, ended, upcoming = demo_catalog_load(now)
        assert running.has_started(now)
        assert not running.has_ended(now)
        assert ended.has_ended(now)
        assert ended.reactivation_enabled
        assert not upcoming.has_started(now)
        assert running.offers_proctored_certificate
        assert [exam.title for exam in running.exams.order_by("submission_deadline")] == ["Midterm exam", "Final exam"]

    def test_loading_again_keeps_one_of_each_and_moves_the_dates_to_today(self, db, now):
        demo_catalog_load(now - timedelta(weeks=52))
        running, ended, _ = demo_catalog_load(now)
        assert (Course.objects.count(), CourseSession.objects.count(), Exam.objects.count()) == (3, 3, 4)
        assert (running.starts_at, ended.ends_at) == (now - timedelta(weeks=2), now - timedelta(weeks=8))
        assert running.exams.get(title="Final exam").submission_deadline == now + timedelta(weeks=5)


class TestDemoAssessment:
    def test_a_standalone_assessment_open_now_and_again_after_a_reload(self, db, now):
        demo_assessment_load(now - timedelta(weeks=52))
        assessment = demo_assessment_load(now)
        assert Assessment.objects.count() == 1
        assert (assessment.course, assessment.attempts) == (None, 3)
        assert assessment.closed_reason(now) is None


class TestDemoUsers:
    def test_staff_is_a_superuser_and_the_learners_are_not(self, db):
        demo_users_reset()
        users = {user.username: (user.is_staff, user.is_superuser) for user in User.objects.all()}
        assert users == {"staff": (True, True), "alice": (False, False), "bob": (False, False)}

    def test_each_reset_makes_new_passwords_and_the_old_ones_stop_working(self, db):
        first, second = demo_users_reset(), demo_users_reset()
        assert all(first[name] != second[name] for name in ("staff", "alice", "bob"))
        assert authenticate(username="alice", password=second["alice"]) is not None
        assert authenticate(username="alice", password=first["alice"]) is None

    def test_the_demo_users_passwords_pass_the_rules(self, db):
        passwords = demo_users_reset()
        for username, password in passwords.items():
            validate_password(password, User.objects.get(username=username))
