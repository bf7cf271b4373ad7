"""Lessons: the lesson.yaml format, validation, bundles (.arlesson), signatures."""
