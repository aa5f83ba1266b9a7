"""`baremetal createadmin` and `baremetal apikey`: accounts from the command line."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import IntegrityError

from baremetal.region.auth import split_api_key
from baremetal.store import Store
from baremetal.store.accounts import create_token, delete_token, list_tokens
from baremetal.store.references import create_user, get_user


def create_admin(store: Store, args: argparse.Namespace) -> int:
    if len(args.password) < 8:
        print("createadmin: the password must have at least 8 characters", file=sys.stderr)
        return 1
    try:
        with store.write() as conn:
            create_user(conn, args.username, args.password, args.email, is_superuser=True)
    except IntegrityError:
        print(f"createadmin: user '{args.username}' already exists", file=sys.stderr)
        return 1
    print(f"created administrator '{args.username}'")
    return 0


def api_keys(store: Store, args: argparse.Namespace) -> int:
    with store.write() as conn:
        user = get_user(conn, args.username)
        if user is None:
            print(f"apikey: no user '{args.username}'", file=sys.stderr)
            return 1
        if args.list:
            for token in list_tokens(conn, user.id):
                print(token.api_key)
            return 0
        if args.delete:
            try:
                _, token_key, _ = split_api_key(args.delete)
            except ValueError as error:
                print(f"apikey: {error}", file=sys.stderr)
                return 1
            if not delete_token(conn, user.id, token_key):
                print("apikey: no such key for this user", file=sys.stderr)
                return 1
            print("deleted")
            return 0
        print(create_token(conn, user.id, "cli").api_key)
        return 0
