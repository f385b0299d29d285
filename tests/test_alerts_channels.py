"""The webhook sender resolves names itself and sends only to an address it checked; e-mails
carry the delivery id. No services needed: a loopback receiver and a stubbed resolver."""

from __future__ import annotations

import socket

import pytest

from alerts.channels import DeliveryError, WebhookSender, email_message, resolve_checked
from alerts.models import WebhookSubscription
from alerts.payload import encode_body
from alerts.urlcheck import UrlPolicy
from hazgate.bench.webhook_receiver import WebhookReceiver

BODY = encode_body({"alert_id": "a1", "rule": "tank overpressure", "severity": "critical", "state": "firing"})


def resolving_to(monkeypatch, address: str) -> list[str]:
    """Make every name resolve to ``address``; return the list of names looked up."""
    asked: list[str] = []

    def fake(host, port, *args, **kwargs):
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return asked


def test_a_name_that_resolves_to_the_metadata_service_is_never_called(monkeypatch):
    asked = resolving_to(monkeypatch, "169.254.169.254")
    sub = WebhookSubscription(url="http://duty.park.example/hook", secret="s")
    sender = WebhookSender(UrlPolicy(), timeout_s=2)
    with pytest.raises(DeliveryError, match="metadata"):
        sender.send(sub, BODY, "d-1")
    assert asked == ["duty.park.example"]


def test_a_name_resolving_to_loopback_is_refused_when_the_policy_says_so(monkeypatch):
    resolving_to(monkeypatch, "127.0.0.1")
    with pytest.raises(DeliveryError, match="loopback"):
        resolve_checked("duty.park.example", 80, UrlPolicy(allow_loopback=False))
    assert [str(a) for a in resolve_checked("duty.park.example", 80, UrlPolicy())] == ["127.0.0.1"]


def test_the_webhook_goes_to_the_checked_address_with_the_name_in_host(monkeypatch):
    with WebhookReceiver("s3cret") as receiver:
        asked = resolving_to(monkeypatch, "127.0.0.1")
        url = f"http://duty.park.example:{receiver.port}/hook"
        sender = WebhookSender(UrlPolicy(), timeout_s=5)
        sender.send(WebhookSubscription(url=url, secret="s3cret"), BODY, "d-2")
        sender.close()
        (delivery,) = receiver.deliveries
    # The name was resolved once, by us; the HTTP client only ever saw the address.
    assert [h for h in asked if h != "127.0.0.1"] == ["duty.park.example"]
    assert delivery.host == f"duty.park.example:{receiver.port}"
    assert delivery.signature_ok and delivery.delivery_id == "d-2" and delivery.body["alert_id"] == "a1"


def test_a_refusing_receiver_is_a_delivery_error_to_retry():
    with WebhookReceiver("s3cret") as receiver:
        receiver.fail_with(500)
        sender = WebhookSender(UrlPolicy(), timeout_s=5)
        with pytest.raises(DeliveryError, match="HTTP 500"):
            sender.send(WebhookSubscription(url=receiver.url, secret="s3cret"), BODY, "d-3")
        sender.close()


def test_an_alert_mail_names_severity_and_rule_and_carries_the_delivery_id():
    msg = email_message(BODY, "duty@park.example", "hazgate@park.example", "d-4")
    assert msg["Subject"].startswith("[hazgate] CRITICAL") and "tank overpressure" in msg["Subject"]
    assert msg["X-Hazgate-Delivery"] == "d-4" and msg["Message-ID"] == "<d-4@hazgate>"
