# The two commands a new user needs: `make run` and `make test`. Everything else is a step of them.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: help run test packages services services-stop migrate

help:
	@echo "make run            start web, worker, beat (and local PostgreSQL + Redis) in the foreground"
	@echo "make test           run the whole test suite against real PostgreSQL, Redis, worker and browser"
	@echo "make services       start project-local PostgreSQL and Redis unless DATABASE_URL/REDIS_URL are set"
	@echo "make services-stop  stop the PostgreSQL and Redis this checkout started"

# The settings default to production; these commands are development and turn DEBUG on.
run test migrate: export DEBUG := true
# Which Debian packages to check: the browser only for tests.
test: PACKAGES := test
PACKAGES ?= run

packages:
	@scripts/packages.sh $(PACKAGES)

.venv/.runtime: requirements.txt | packages
	@scripts/venv.sh requirements.txt
	@touch $@

.venv/.test: requirements.txt requirements-test.txt | packages
	@scripts/venv.sh requirements-test.txt
	@touch $@

services: .venv/.runtime | packages
	@scripts/services.sh start

services-stop:
	@scripts/services.sh stop

migrate: services
	@$(PY) manage.py migrate --noinput

run: migrate
	@scripts/run.sh

test: .venv/.test services
	@$(PY) -m pytest $(PYTEST_ARGS)
