from analysis.text.cleaning import clean_for_clustering, clean_many, name_words


def test_handles_urls_emails_and_hash_marks_are_removed():
    text = "@closeloop_help see https://x.co/abc or www.example.com, mail jo.b+1@mail.example.org #refund"
    assert clean_for_clustering(text, names=[]) == "see or , mail refund"


def test_location_and_customer_names_removed_as_whole_words_any_case():
    names = ["Leeds Central", "Anna Smith", "Bury"]
    text = "LEEDS  central was slow; anna smith waited. Buryside is fine, bury is not."
    assert clean_for_clustering(text, names=names) == "was slow; waited. Buryside is fine, is not."


def test_longest_name_first_and_punctuated_names():
    names = ["North Park", "North Park Mall", "O'Hare"]
    assert clean_for_clustering("At north park mall and O'Hare queues", names=names) == "At and queues"


def test_empty_and_none_give_empty_string():
    assert clean_for_clustering(None, names=["x"]) == ""
    assert clean_for_clustering("   ", names=[]) == ""


def test_clean_many_matches_single_and_name_words_lowercase():
    names = ["Leeds Central"]
    assert clean_many(["Leeds Central rocks", None], names=names) == ["rocks", ""]
    assert name_words(["Leeds Central", "A B"]) == {"leeds", "central"}


def test_redaction_masks_are_removed():
    text = "On XX/XX/XXXX I paid {$1400.00} to XXXX and **** said no; XXL fits, xx ok"
    assert clean_for_clustering(text, names=[]) == "On I paid {$1400.00} to and said no; XXL fits, xx ok"


def test_many_names_clean_exactly_as_one_alternation_of_them_all():
    import random

    from analysis.text.cleaning import clean_for_clustering, clean_many, names_pattern

    rng = random.Random(3)
    first = ["Ann", "Bob", "Chloé", "Dev", "Eve", "O'Neil", "Jean-Luc", "Straße", "İlkay", "Zoë"]
    last = ["Park", "North", "Smith", "Lee", "Brown", "Khan", "Ng", "#1", "3M", "Ōno"]
    names = sorted({f"{rng.choice(first)} {rng.choice(last)}" for _ in range(80)}) + [
        "North Park Mall", "North Park", "Park", "#1 Store", "!!!", "Mall"]
    words = names + ["the", "queue", "north", "PARK", "ann", "mall", "store", "#1", "-", "'"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(400)]
    texts += ["North Park Mall was busy", "met ann  smith at north\tpark", "O'Neil Khan's order",
              "STRASSE Brown", "straße brown", "the #1 Store", "Zoë Ng!!! wow"]
    one_pattern = names_pattern(names)
    assert clean_many(texts, names=names) == [
        clean_for_clustering(t, names=one_pattern) for t in texts]
