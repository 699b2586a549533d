"""The console's meeting search reads words as GET /search does (appliance/transcripts/search.py):
the matched word marked, the text escaped, others' meetings kept out, a bad query explained."""

from __future__ import annotations

from tests.api.conftest import ApplianceDb
from tests.console.conftest import Console


def test_the_meeting_search_marks_the_word_and_explains_a_bad_query(console: Console) -> None:
    db = ApplianceDb(console.app.data_dir / "vomeet.db", console.app.data_dir / "recordings")
    carol_id, carol_key = console.app.new_user("carol-search@example.com")
    _, dave_key = console.app.new_user("dave-search@example.com")
    meeting_id = db.insert_meeting(carol_id, native_meeting_id="csr-chme-eti", data={"name": "Costs"})
    db.insert_segment(meeting_id, "c1", 4.0, 6.0, "Is <b>the</b> Gadwall budget & its costs final?")

    with console.signed_in(api_key=carol_key) as carol:
        page = carol.get("/ui/meetings", params={"q": "gadwall"})
        assert page.status_code == 200
        assert "Is &lt;b&gt;the&lt;/b&gt; <mark>Gadwall</mark> budget &amp; its costs final?" in page.text
        refused = carol.get("/ui/meetings", params={"q": '"gadwall'})
        assert refused.status_code == 422 and "double quotes" in refused.text
    with console.signed_in(api_key=dave_key) as dave:
        assert "No meeting matches these filters." in dave.get("/ui/meetings", params={"q": "gadwall"}).text
    with console.signed_in() as admin:  # an administrator searches every user's meetings
        assert f'href="/ui/meetings/{meeting_id}"' in admin.get("/ui/meetings", params={"q": "gadwall"}).text
