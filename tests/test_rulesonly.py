"""The rules-only rewrite's fixes: a flagged phrase is replaced where it stands, mid-sentence too,
with the facts around it untouched and the case and punctuation right for where it lands."""

from __future__ import annotations

import pytest

from savy.analyse import analyse
from savy.rules import RuleBook
from savy.rulesonly import fix_findings, splice

from .conftest import rules_only


@pytest.mark.parametrize("draft,customer,fixed", [
    # Finnish: a belittling "ei kestä" inside a sentence; form of address unknown -> formal
    ("Selvä, ei kestä, laitoin tilauksen 4471 eteenpäin.", "Kiitos avusta!",
     "Selvä, olkaa hyvä, laitoin tilauksen 4471 eteenpäin."),
    # ... and in a draft that says "sinä" ("Laskusi")
    ("Moi, ei kestä, hoidin sen jo. Laskusi 880 on nyt maksettu.", "Kiitti tosi paljon!",
     "Moi, ole hyvä, hoidin sen jo. Laskusi 880 on nyt maksettu."),
    # an apology for the wait that opens a longer sentence
    ("Pahoittelemme odotusta, paketti #4411 lähtee huomenna.", "Olen odottanut jo kaksi viikkoa!!",
     "Kiitos, että jaksoitte odottaa, paketti #4411 lähtee huomenna."),
    # a whole belittling sentence is still replaced by a whole sentence
    ("Ei kestä kiittää. Tilaus TIL-20931 lähti eilen.", "Kiitos tosi paljon avusta!",
     "Olkaa hyvä, mukava olla avuksi! Tilaus TIL-20931 lähti eilen."),
    # word-for-word jargon fixes keep the capital letter of the sentence start
    ("Tikettisi on eskaloitu L2:lle.", "Milloin netti taas toimii? Kiitos.",
     "Tukipyyntösi on siirretty asiantuntijatiimillemme."),
    # English: the apology opens the sentence and the sentence goes on (no full stop at the end)
    ("Sorry for the wait, your refund of 12,90 € is on its way", "Still waiting for my refund...",
     "Thank you for your patience, your refund of 12,90 € is on its way"),
    # ... after a greeting: lower case, the dash and the amount kept
    ("Hi Anna, sorry for the wait – your refund of 12,90 € is on its way.", "Still waiting on my refund, any news?",
     "Hi Anna, thank you for your patience – your refund of 12,90 € is on its way."),
    # the subject goes with the apology ("I'm so sorry" -> not "I'm thank you")
    ("I'm so sorry for the wait, we have now refunded 25 €.", "I've waited two weeks for my refund!",
     "Thank you for your patience, we have now refunded 25 €."),
    # a brush-off after another sentence, and one after a comma
    ("Thanks! Don't mention it, your order 5521 ships tomorrow.", "Thank you so much!",
     "Thanks! You're welcome, your order 5521 ships tomorrow."),
    ("Ok, no problem, the parcel 4471 left today.", "Thanks for checking!",
     "Ok, happy to help, the parcel 4471 left today."),
    # an endearment that opens the sentence goes with its comma; the next word gets the capital
    ("Darling, your order 7781 left today.", "When will my order ship?",
     "Your order 7781 left today."),
])
def test_fix_in_place(book: RuleBook, draft: str, customer: str, fixed: str) -> None:
    a = analyse(book, draft, customer)
    assert fix_findings(a, draft) == fixed, a.findings


@pytest.mark.parametrize("text,old,new,out", [
    ("We got it, sorry for the wait.", "sorry for the wait", "Thank you for your patience",
     "We got it, thank you for your patience."),
    ("Ok. sorry for the wait, here it is.", "sorry for the wait", "thank you for your patience",
     "Ok. Thank you for your patience, here it is."),
    ("Sure, no worries.", "no worries", "I'm happy to help", "Sure, I'm happy to help."),
    ("Hei,\nei kestä! Tilaus lähti.", "ei kestä!", "olkaa hyvä", "Hei,\nOlkaa hyvä! Tilaus lähti."),
    ("Selvä, ei kestä, hoidan sen.", "ei kestä", "Olkaa hyvä!", "Selvä, olkaa hyvä, hoidan sen."),
    ("Kiitos, kulta, tilaus lähti.", ", kulta", "", "Kiitos, tilaus lähti."),
])
def test_splice(text: str, old: str, new: str, out: str) -> None:
    start = text.index(old)
    assert splice(text, start, start + len(old), new) == out


def test_rewrite_keeps_facts_and_ends_sentences(book: RuleBook) -> None:
    draft = "Sorry for the wait, your refund of 12,90 € is on its way"
    out = rules_only(book, draft, "I've been waiting two weeks for my refund!").rewrite
    assert "Thank you for your patience, your refund of 12,90 € is on its way." in out
    assert "sorry" not in out.lower()


def test_signoff_on_its_own_line_without_a_stray_space(book: RuleBook) -> None:
    d = "Eipä kestä. Tunnuksesi on nyt avattu 12.3.2026. t. Laura"
    out = rules_only(book, d, "Kiitti tosi paljon avusta!").rewrite
    assert out.endswith("\nt. Laura"), repr(out)


@pytest.mark.parametrize("draft,customer,start", [
    ("Eipä kestä. Tunnuksesi on nyt avattu 12.3.2026.", "Kiitti tosi paljon avusta!", "Ole hyvä"),
    ("No problem! Your return label is attached.", "Thanks so much!", "My pleasure"),
])
def test_one_thank_you_not_two(book: RuleBook, draft: str, customer: str, start: str) -> None:
    # the accept-thanks fix already opens the reply: no second opening phrase before it
    out = rules_only(book, draft, customer).rewrite
    assert out.startswith(start), out


def test_thanks_for_patience_only_where_the_customer_waited(book: RuleBook) -> None:
    """With no customer message, or one that says nothing of waiting, a thank-you for patience
    would claim what the customer did not do: the apology for the wait stays."""
    for customer in (None, "Could you check my direct debit amount?"):
        a = analyse(book, "Sorry for the wait – your refund of 12,90 € is on its way.", customer, "en")
        assert not [f for f in a.findings if f.rule_id == "thank-for-waiting"]
