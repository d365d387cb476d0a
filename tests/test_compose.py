"""The constrained rewrite's construction (no model): the agent's sentences stay where they stand,
the opening and the closing come from the bank and fit the situation, nothing is said twice."""

from __future__ import annotations

import pytest

from savy import compose
from savy.analyse import analyse
from savy.compose import frame, load_bank, plan
from savy.guard import Guard
from savy.rules import RuleBook

from .conftest import rules_only


def _plan(book: RuleBook, draft: str, customer: str | None, lang: str = "auto") -> compose.Plan:
    return plan(load_bank(book.root), analyse(book, draft, customer, lang), draft)


def test_frame_keeps_greeting_body_and_signoff() -> None:
    fr = frame("Hei Maria,\n\nTilaus 123 lähti eilen.\nSeuranta: posti.fi/123\n\nt. Laura")
    assert fr.head == "Hei Maria,\n\n" and fr.body == "Tilaus 123 lähti eilen.\nSeuranta: posti.fi/123"
    assert fr.tail == "\n\nt. Laura"


def test_body_kept_verbatim_with_its_line_breaks(book: RuleBook) -> None:
    draft = "Hi Tom,\n\nYour refund of £42.50 was sent on 3 March.\n\nIt takes 3-5 days.\n\nBest, Sam"
    pl = _plan(book, draft, "Thanks a lot for sorting this out!", "en")
    assert pl.openers and pl.closings
    text = compose.assemble(pl, pl.openers[0], pl.closings[0])
    assert text.startswith("Hi Tom,\n\n" + pl.openers[0])
    assert "Your refund of £42.50 was sent on 3 March.\n\nIt takes 3-5 days." in text
    assert text.endswith("Best, Sam")


def test_no_opener_without_a_customer_message(book: RuleBook) -> None:
    pl = _plan(book, "Your meter installation is booked for 12 February.", None, "en")
    assert pl.openers == []


def test_a_refusal_gets_no_cheerful_opener(book: RuleBook) -> None:
    bank = load_bank(book.root)
    draft = "Unfortunately we can't refund the order, the return period ended on 1 February."
    pl = _plan(book, draft, "I'd like my money back please.", "en")
    assert pl.situation == "refusal" and pl.openers
    cheerful = {t for e in bank.entries if "cheerful" in e.tags for t in e.texts.values()}
    assert not set(pl.openers) & cheerful


def test_nothing_said_twice(book: RuleBook) -> None:
    # the draft already thanks: no thanking opener; a thanking opener: no thanking closing
    bank = load_bank(book.root)
    thanking = {t for e in bank.entries if "thanks" in e.tags for t in e.texts.values()}
    pl = _plan(book, "Kiitos viestistä. Tilaus 55 on matkalla.", "Missä tilaukseni on?", "fi")
    assert not set(pl.openers) & thanking
    pl = _plan(book, "The parcel 55 is on its way.", "Thank you so much for the quick help!", "en")
    for opener in pl.openers:
        closing = pl.closing_for(opener, pl.closings)
        if "thanks" in pl.tags[opener]:
            assert closing is None or "thanks" not in pl.tags[closing]


def test_finnish_form_of_address_follows_the_draft(book: RuleBook) -> None:
    bank = load_bank(book.root)
    te = {e.texts["te"] for e in bank.entries if e.lang == "fi"}
    sina = {e.texts["sinä"] for e in bank.entries if e.lang == "fi"}
    pl = _plan(book, "Voit noutaa pakettisi huomenna.", "Kiitos tosi paljon avusta!", "fi")
    assert pl.openers and set(pl.openers) <= sina
    pl = _plan(book, "Voitte noutaa pakettinne huomenna.", "Kiitos tosi paljon avusta!", "fi")
    assert pl.openers and set(pl.openers) <= te


def test_without_a_model_the_pick_is_stable_and_checked(book: RuleBook) -> None:
    first = rules_only(book, "Tilaus 20417 lähti eilen.", "Kiitos nopeasta avusta!", "fi")
    again = rules_only(book, "Tilaus 20417 lähti eilen.", "Kiitos nopeasta avusta!", "fi")
    assert first.source == "rules" and first.rewrite == again.rewrite
    assert "Tilaus 20417 lähti eilen." in first.rewrite and first.rewrite != "Tilaus 20417 lähti eilen."
    assert first.opener and all(a.opener != first.opener for a in first.alternatives)


# A sentence a rule flags but cannot fix goes only when it is all flaw and states no fact: a joke
# to an upset customer, a sentence of hindsight blame, a filler sentence. A joke in a sentence with a fact in it, and
# advice for next time, stay (left to the agent, with a warning).
@pytest.mark.parametrize("draft,customer,lang,body,kept", [
    ("The router failed to update overnight. Gremlins strike again, eh? A technician visits on 4 March.",
     "My internet has been down ALL DAY, this is ridiculous!!", "en",
     "The router failed to update overnight. A technician visits on 4 March.", None),
    ("Your parcel is lost, haha. A new one ships on 12 March.", "Where is my parcel?? This is ridiculous!!", "en",
     None, ["12 March", "lost"]),
    ("Your claim CLM-88 is declined under section 4.2. You should have read the terms before signing.",
     "Why was my claim declined? This is so unfair!", "en", "Your claim CLM-88 is declined under section 4.2.", None),
    ("Hyvitimme maksun 12 €. Tarkista jatkossa vyöhyke ennen ostoa.", "Ostin väärän lipun, voinko saada rahat takaisin?",
     "fi", None, ["Tarkista jatkossa vyöhyke ennen ostoa."]),
    # a bare acknowledgement or a stock courtesy line says nothing the opening does not
    ("Selvä. Tilaus 5521 on peruttu.", "Kiitos tosi paljon avusta!", "fi", "Tilaus 5521 on peruttu.", None),
    ("Thank you for contacting us. Your refund of €45 was processed today.", "I've been on hold for 2 hours!!!",
     "en", "Your refund of €45 was processed today.", None),
    ("Kiitämme palautteestanne. Välitimme sen myymälälle 14.3.", "Myyjä oli tosi töykeä.", "fi",
     "Välitimme sen myymälälle 14.3.", None),
    # ... but a yes answers a question, and a lone acknowledgement is the whole reply
    ("Ok. Peruttu, rahat palautuvat 3–5 päivässä.", "Voitteko perua tilauksen 4412?", "fi", None, ["Ok."]),
    ("Ok. Cancelled, refund in 3-5 days.", "Please cancel order 4412.", "en", "Cancelled, refund in 3-5 days.", None),
    ("Selvä.", "Kiitos!", "fi", "Selvä.", None),
])
def test_an_unfixable_sentence_goes_only_when_it_is_all_flaw(book: RuleBook, draft: str, customer: str, lang: str,
                                                           body: str | None, kept: list[str] | None) -> None:
    pl = _plan(book, draft, customer, lang)
    if body is not None:
        assert pl.frame.body == body
    for part in kept or []:
        assert part in pl.frame.body


def test_a_signature_block_stays_last_and_the_body_starts_a_sentence(book: RuleBook) -> None:
    draft = ("Hei,\n\ntälle viikolle ei ole vapaita aikoja. Seuraava vapaa aika on ma 2.2. klo 8.15.\n\n"
             "Ystävällisin terveisin\nMikko Rantanen\nKorvauspalvelut")
    pl = _plan(book, draft, "Tarvitsisin ajan vielä tälle viikolle, hammasta särkee kovasti.", "fi")
    assert pl.frame.tail == "\n\nYstävällisin terveisin\nMikko Rantanen\nKorvauspalvelut"
    text = compose.assemble(pl, "Kiitos viestistänne.", "Kertokaa, jos tarvitsette vielä apua.")
    assert text == ("Hei,\n\nKiitos viestistänne. Tälle viikolle ei ole vapaita aikoja. Seuraava vapaa aika on "
                    "ma 2.2. klo 8.15.\n\nKertokaa, jos tarvitsette vielä apua.\n\n"
                    "Ystävällisin terveisin\nMikko Rantanen\nKorvauspalvelut")


def test_a_greeting_ended_by_a_full_stop_stays_first(book: RuleBook) -> None:
    pl = _plan(book, "Hi Dave. Flood is covered under your policy, excess is £350.", "my basement flooded, am I covered?", "en")
    assert pl.frame.head == "Hi Dave. "
    text = compose.assemble(pl, "I'm so sorry this has happened.", None)
    assert text == "Hi Dave. I'm so sorry this has happened. Flood is covered under your policy, excess is £350."


def test_a_short_signoff_with_the_name_on_its_line_stays_last() -> None:
    fr = frame("Moi Jari!\n\nLasku 3300981 erääntyi 20.12.\n\nt. Tiina / Asiakaspalvelu")
    assert fr.body == "Lasku 3300981 erääntyi 20.12." and fr.tail == "\n\nt. Tiina / Asiakaspalvelu"
    # a last line that only starts like a sign-off is the body
    assert frame("Your refund is on its way.\nThanks for your patience, it arrives Monday.").tail == ""


def test_a_greeting_on_a_line_with_the_message_is_only_the_greeting() -> None:
    fr = frame("Hi Sam, order #5512 ships Friday. We cannot refund the fee of £4.90.\n\nBest,\nJo")
    assert fr.head == "Hi Sam, "
    assert fr.body == "order #5512 ships Friday. We cannot refund the fee of £4.90."
    assert fr.tail == "\n\nBest,\nJo"
    assert frame("Hei Maria,\n\nTilaus lähti.").head == "Hei Maria,\n\n"


def test_more_signoff_words_keep_the_signature_last() -> None:
    fr = frame("Hope to welcome you back.\n\nWarmly,\nElena, Guest Relations")
    assert fr.tail == "\n\nWarmly,\nElena, Guest Relations"


@pytest.mark.parametrize("draft,customer,lang,body", [
    # the condescending "clearly" / "selvästi" / "obviously" goes, the statement stays
    ("As clearly stated in your contract, the delivery fee is $20. Obviously we can't remove it.",
     "Why is there an extra $20 on my bill??", "en", "As stated in your contract, the delivery fee is $20. We can't remove it."),
    ("Kuten sopimuksessa selvästi lukee, toimitusmaksu on 20 €.", "Miksi laskussa on 20 € lisää??", "fi",
     "Kuten sopimuksessa lukee, toimitusmaksu on 20 €."),
    ("The fee is clearly shown on the order page.", "Why was I charged a fee?", "en", "The fee is shown on the order page."),
    # a laugh that opens a sentence to an upset customer goes; the sentence starts anew
    ("Lol, posti on hidas. Paketti 77812 on jakelussa huomenna.", "Paketti ei oo vieläkään tullut ja mä oon ihan raivona",
     "fi", "Posti on hidas. Paketti 77812 on jakelussa huomenna."),
    # the agent's lower-case sentence starts are capitalised, addresses and abbreviations are not
    ("k. done. refund in 3-5 days", "can u cancel order 4412", "en", "Done. Refund in 3-5 days"),
    ("Tilaus lähti. seuranta tulee, esim. posti.fi kertoo. info@kauppa.fi auttaa.", "Missä tilaus?", "fi",
     "Tilaus lähti. Seuranta tulee, esim. posti.fi kertoo. info@kauppa.fi auttaa."),
])
def test_deterministic_fixes_read_right(book: RuleBook, draft: str, customer: str, lang: str, body: str) -> None:
    pl = _plan(book, draft, customer, lang)
    assert pl.frame.body == body
    assert Guard(book).meaning(pl.analysis, draft, pl.frame.body) == []


@pytest.mark.parametrize("draft,tail", [
    ("Your refund is done.\n– Sara, support", "\n– Sara, support"),
    ("Reply YES or NO.\nThanks, Fraud team", "\nThanks, Fraud team"),
    ("Call us on 01632 960 442.\n– Despatch", "\n– Despatch"),
    ("Tilaus lähti.\n– Maija, asiakaspalvelu", "\n– Maija, asiakaspalvelu"),
    ("Bring these:\n- Your ID\n- Your card", ""),  # a list's last item is no signature
])
def test_a_signature_on_the_last_line_stays_last(draft: str, tail: str) -> None:
    assert frame(draft).tail == tail


@pytest.mark.parametrize("customer,lang,thanks", [
    ("Hi, just wondering if my car is ready yet? Thanks so much", "en", False),
    ("Any news on my claim? Cheers.", "en", False),
    ("Onko tilaus jo lähtenyt? Kiitos!", "fi", False),
    ("Thanks so much for the quick fix! Could you also send the invoice?", "en", True),
    ("Kiitos avusta! Milloin lasku tulee?", "fi", True),
    ("Thank you, that sorted it!", "en", True),
])
def test_thanks_that_close_a_question_are_thanks_in_advance(book: RuleBook, customer: str, lang: str,
                                                            thanks: bool) -> None:
    """"Is my car ready? Thanks so much" gets no "You're very welcome – glad I could help"."""
    a = analyse(book, "Your order 4412 ships today.", customer, lang)
    assert ("thanks" in compose.situations(load_bank(book.root), a, "Your order 4412 ships today.")) is thanks


@pytest.mark.parametrize("customer,draft,lang,absent", [
    # glad is not praise: no "Kiitos kehuista" to a customer who only looks forward to a parcel
    ("Moi! Tuleeko mun paketti tänään? Odotan lahjaa äidille 🙂", "Paketti on perillä tänään klo 14–17.", "fi", "praise"),
    # a draft that apologises answers no praise: the cheerful reading was sarcasm
    ("Great, ordered a veggie curry and got lamb. Nice one for a vegetarian 👏",
     "Really sorry, that's a serious mistake on our part. We've refunded the full £18.95.", "en", "praise"),
    # "If you can't make it, call us" is no refusal
    (None, "Your appointment is on 8 April at 10:15. If you can't make it, please call 0161 496 0732.", "en", "refusal"),
])
def test_the_situation_follows_what_was_said(book: RuleBook, customer: str | None, draft: str, lang: str,
                                             absent: str) -> None:
    a = analyse(book, draft, customer, lang)
    assert absent not in compose.situations(load_bank(book.root), a, draft)


def test_a_finnish_signoff_abbreviation_stays_lower_case() -> None:
    assert compose.sentence_case("Tilaus lähti.\nt. Tero") == "Tilaus lähti.\nt. Tero"


@pytest.mark.parametrize("customer,draft,lang,own_help", [
    ("Kiitos Markulle, hän auttoi tosi paljon eilen!", "Välitän kiitoksen Markulle. Tilaus 5521 on suljettu.", "fi", False),
    ("Priya was brilliant yesterday, thank you so much!", "I will pass that on to Priya. Order 5521 is closed.", "en", False),
    # the thanked name signs the draft: the writer did help
    ("Thanks so much to Sara for the help!", "Glad it is sorted. Order 5521 is closed.\nBest, Sara", "en", True),
    ("Kiitos avusta!", "Tilaus 5521 on suljettu.\nt. Markku", "fi", True),
])
def test_thanks_to_a_colleague_get_no_glad_i_could_help(book: RuleBook, customer: str, draft: str, lang: str,
                                                         own_help: bool) -> None:
    bank = load_bank(book.root)
    pl = _plan(book, draft, customer, lang)
    claims = [o for o in pl.openers if any(rx.search(o) for rx in bank.own_help[lang])]
    assert bool(claims) is own_help, pl.openers
