"""The User Management seed's routes keep working with the bodies its clients send."""

from __future__ import annotations

from tests.support.api import PASSWORD, Client, login, unique_name


async def test_create_user_takes_the_seeds_name_field(client: Client) -> None:
    name = unique_name()
    response = await client.post("/create_user", json={"name": name, "password": PASSWORD})
    assert response.status_code == 201
    assert response.json()["username"] == name
    await login(client, name)
    fetched = await client.get(f"/user/{name}")
    assert fetched.json()["name"] == name


async def test_create_user_takes_username_too(client: Client) -> None:
    name = unique_name()
    response = await client.post("/create_user", json={"username": name, "password": PASSWORD})
    assert response.status_code == 201


async def test_create_user_needs_a_name(client: Client) -> None:
    response = await client.post("/create_user", json={"password": PASSWORD})
    assert response.status_code == 400
    assert response.json() == {"error": "BadRequest", "detail": "name or username is required"}


async def test_create_user_applies_the_same_rules_as_register(client: Client) -> None:
    name = unique_name()
    await client.post("/create_user", json={"name": name, "password": PASSWORD})
    taken = await client.post("/create_user", json={"name": name, "password": PASSWORD})
    assert taken.status_code == 409
    weak = await client.post("/create_user", json={"name": unique_name(), "password": "password"})
    assert weak.status_code == 422
