"""The fixed English vocabulary of the embedded (synthesised) corpus.

About 200 common words, chosen so that each one is spoken the same way by every eSpeak English voice and no
two sound alike: no homophones (to/two/too, there/their, right/write, know/no, ...), no apostrophes, only
letters a-z so that the transcript survives ``lowrank_asr.text.normalize`` unchanged. Never reorder or edit
this list in place: the sentences of a seeded corpus are indices into it, so a change alters every corpus.
"""

WORDS: tuple[str, ...] = (
    # people and family
    "man", "woman", "child", "mother", "father", "sister", "brother", "friend", "doctor", "teacher",
    "farmer", "king", "queen", "baby", "people",
    # animals
    "dog", "cat", "horse", "bird", "fish", "cow", "sheep", "mouse", "lion", "tiger", "rabbit", "snake",
    # nature and places
    "river", "mountain", "forest", "garden", "island", "ocean", "desert", "valley", "village", "city",
    "country", "bridge", "road", "street", "market", "school", "church", "castle", "station", "kitchen",
    "window", "door", "table", "chair", "bottle", "basket", "pocket", "letter", "paper", "pencil", "picture",
    "money", "music", "water", "fire", "stone", "sand", "snow", "rain", "wind", "cloud", "sun", "moon",
    "star", "tree", "flower", "apple", "orange", "lemon", "bread", "butter", "cheese", "sugar", "coffee",
    "dinner", "supper", "breakfast", "morning", "evening", "winter", "summer", "autumn", "spring", "year",
    "month", "week", "hour", "minute", "story", "question", "answer", "number", "family", "engine", "ship",
    "train", "plane", "wagon", "hammer", "candle", "blanket", "ribbon", "button", "jacket", "shoe", "glove",
    # adjectives
    "big", "small", "long", "short", "tall", "young", "old", "happy", "angry", "quiet", "loud", "bright",
    "dark", "warm", "cold", "soft", "hard", "quick", "slow", "heavy", "empty", "full", "clean", "dirty",
    "green", "yellow", "purple", "black", "white", "golden", "silver", "little", "gentle", "simple",
    "strange", "famous", "hungry", "thirsty", "lucky", "busy", "lazy", "clever", "silly", "pretty",
    # verbs
    "walk", "run", "jump", "swim", "climb", "sing", "dance", "laugh", "cry", "sleep", "dream", "think",
    "speak", "listen", "watch", "open", "close", "carry", "throw", "catch", "build", "paint", "cook",
    "drink", "eat", "drive", "ride", "fly", "follow", "visit", "remember", "forget", "begin", "finish",
    "help", "play", "push", "pull", "bring", "find",
    # numbers and small words
    "one", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twenty", "hundred", "always",
    "never", "often", "today", "yesterday", "tomorrow", "under", "over", "behind", "between", "inside",
    "outside", "after", "before", "again", "very", "every", "many", "some", "this", "that", "with", "from",
)
