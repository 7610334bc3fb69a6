"""The fixed English vocabulary of the embedded (synthesised) corpus.

About 200 common words, chosen so that each one is spoken the same way by every eSpeak English voice and no
two sound alike: no homophones (to/two/too, there/their, right/write, know/no, ...), no apostrophes, only
letters a-z so that the transcript survives ``lowrank_asr.text.normalize`` unchanged. Never reorder or edit
these lists in place: the sentences of a seeded corpus are indices into them, so a change alters every corpus.

``EXTRA_WORDS`` extends the list for corpora that need more variety than 200 words give: a SentencePiece model
of 1024 pieces (LibriSpeech's recipe) needs over a thousand distinct words in its training text, while the basic
list supports about 300 pieces. Chosen by the same rules; homophones (of each other or of ``WORDS``) were
dropped by comparing eSpeak NG's en-us and en phonemes (tests/test_synthesis.py checks it). A split selects it
with ``lexicon: extended`` (``LEXICONS``).
"""

# fmt: off
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

# Appended to WORDS by the extended lexicon (never reorder: corpora index WORDS + EXTRA_WORDS).
EXTRA_WORDS: tuple[str, ...] = (
    "aunt", "uncle", "cousin", "nephew", "niece", "grandmother", "grandfather", "husband", "wife", "daughter",
    "girl", "boy", "lady", "gentleman", "neighbour", "captain", "soldier", "sailor", "pilot", "driver",
    "nurse", "lawyer", "judge", "priest", "bishop", "prince", "princess", "emperor", "servant", "guard",
    "baker", "butcher", "carpenter", "painter", "writer", "poet", "singer", "dancer", "actor", "artist",
    "student", "pupil", "stranger", "traveller", "visitor", "merchant", "shepherd", "hunter", "fisherman",
    "gardener", "miner", "banker", "clerk", "waiter", "elephant", "monkey", "giraffe", "zebra", "donkey",
    "camel", "goat", "pig", "chicken", "duck", "goose", "turkey", "eagle", "owl", "parrot", "pigeon", "swan",
    "crow", "frog", "turtle", "spider", "insect", "beetle", "butterfly", "bee", "wasp", "worm", "whale",
    "dolphin", "shark", "salmon", "lobster", "crab", "oyster", "squirrel", "fox", "wolf", "bear", "deer",
    "bull", "ox", "lamb", "kitten", "puppy", "pony", "dragon", "beast", "creature", "hill", "lake", "pond",
    "stream", "beach", "coast", "shore", "cliff", "cave", "field", "meadow", "farm", "barn", "fence", "gate",
    "path", "lane", "avenue", "square", "park", "harbour", "port", "airport", "factory", "office", "shop",
    "library", "museum", "theatre", "cinema", "hospital", "hotel", "palace", "temple", "tower", "prison",
    "bank", "college", "university", "kingdom", "empire", "nation", "capital", "province", "county", "town",
    "suburb", "cottage", "cabin", "tent", "house", "home", "room", "hall", "floor", "ceiling", "wall", "roof",
    "stairs", "corner", "attic", "cellar", "garage", "yard", "lawn", "hedge", "pool", "fountain", "bed",
    "pillow", "sheet", "towel", "curtain", "carpet", "lamp", "mirror", "clock", "shelf", "drawer", "cupboard",
    "closet", "sofa", "cushion", "stove", "oven", "sink", "bucket", "kettle", "teapot", "cup", "mug", "plate",
    "bowl", "spoon", "fork", "knife", "pan", "jar", "box", "bag", "tray", "shirt", "skirt", "dress", "coat",
    "hat", "cap", "scarf", "sock", "boot", "sandal", "belt", "collar", "sleeve", "trousers", "uniform",
    "apron", "cloak", "necklace", "ring", "bracelet", "umbrella", "wallet", "purse", "ticket", "stamp",
    "envelope", "parcel", "package", "newspaper", "magazine", "book", "novel", "diary", "map", "compass",
    "ladder", "rope", "chain", "wire", "nail", "screw", "saw", "axe", "shovel", "spade", "rake", "brush",
    "comb", "soap", "sponge", "pen", "crayon", "chalk", "eraser", "ruler", "notebook", "folder", "calendar",
    "poster", "postcard", "photograph", "camera", "radio", "television", "telephone", "computer", "keyboard",
    "screen", "machine", "motor", "wheel", "tyre", "pedal", "bicycle", "motorcycle", "truck", "lorry", "bus",
    "taxi", "tractor", "carriage", "boat", "canoe", "raft", "submarine", "rocket", "helicopter", "balloon",
    "anchor", "mast", "sail", "banana", "cherry", "grape", "peach", "plum", "melon", "strawberry",
    "raspberry", "potato", "tomato", "carrot", "onion", "cabbage", "lettuce", "cucumber", "pepper", "garlic",
    "mushroom", "pumpkin", "bean", "corn", "rice", "wheat", "barley", "oat", "honey", "jam", "salt",
    "vinegar", "soup", "salad", "sandwich", "pizza", "pasta", "noodle", "sausage", "bacon", "beef", "pork",
    "ham", "egg", "omelette", "pancake", "biscuit", "cookie", "cake", "pie", "pudding", "chocolate", "candy",
    "sweet", "cream", "milk", "juice", "lemonade", "tea", "wine", "beer", "cocoa", "body", "head", "face",
    "eye", "ear", "nose", "mouth", "lip", "tongue", "tooth", "teeth", "chin", "cheek", "neck", "shoulder",
    "arm", "elbow", "wrist", "hand", "finger", "thumb", "chest", "stomach", "back", "hip", "leg", "knee",
    "ankle", "foot", "toe", "heart", "brain", "blood", "bone", "skin", "muscle", "sky", "earth", "world",
    "planet", "universe", "space", "galaxy", "comet", "thunder", "lightning", "storm", "fog", "mist", "frost",
    "ice", "hail", "breeze", "weather", "season", "sunrise", "sunset", "midnight", "noon", "afternoon",
    "tonight", "weekend", "holiday", "birthday", "festival", "january", "february", "march", "april", "june",
    "july", "august", "september", "october", "november", "december", "monday", "tuesday", "wednesday",
    "thursday", "friday", "saturday", "sunday", "volcano", "glacier", "canyon", "jungle", "swamp", "marsh",
    "prairie", "plateau", "peninsula", "lagoon", "waterfall", "gold", "iron", "copper", "bronze", "glass",
    "plastic", "rubber", "leather", "cotton", "wool", "silk", "linen", "velvet", "marble", "granite", "clay",
    "wax", "oil", "coal", "gas", "smoke", "dust", "mud", "steam", "colour", "shape", "size", "weight",
    "length", "height", "width", "depth", "distance", "speed", "direction", "north", "south", "east", "west",
    "left", "middle", "centre", "edge", "border", "surface", "bottom", "top", "side", "front", "idea",
    "thought", "memory", "wish", "hope", "fear", "anger", "courage", "honour", "pride", "shame", "joy",
    "sorrow", "pleasure", "comfort", "trouble", "problem", "reason", "result", "purpose", "chance", "luck",
    "danger", "safety", "freedom", "justice", "power", "strength", "energy", "knowledge", "wisdom", "truth",
    "secret", "mystery", "adventure", "journey", "voyage", "travel", "trip", "game", "sport", "football",
    "tennis", "golf", "hockey", "baseball", "basketball", "cricket", "chess", "puzzle", "riddle", "toy",
    "doll", "kite", "puppet", "song", "poem", "rhyme", "melody", "rhythm", "drum", "guitar", "piano",
    "violin", "trumpet", "flute", "harp", "orchestra", "concert", "lesson", "class", "exam", "homework",
    "grade", "subject", "science", "history", "geography", "mathematics", "language", "grammar", "army",
    "battle", "war", "victory", "enemy", "hero", "sword", "shield", "arrow", "spear", "cannon", "rifle",
    "government", "president", "minister", "mayor", "council", "law", "rule", "crime", "police", "thief",
    "robber", "detective", "business", "company", "price", "cost", "profit", "trade", "shopping", "customer",
    "lunch", "picnic", "feast", "meal", "snack", "accident", "fever", "cough", "headache", "medicine", "pill",
    "bandage", "injury", "animal", "plant", "seed", "root", "leaf", "branch", "trunk", "bark", "blossom",
    "petal", "grass", "weed", "bush", "vine", "moss", "circle", "triangle", "rectangle", "line", "point",
    "angle", "curve", "zero", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "thousand",
    "million", "billion", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
    "ninth", "tenth", "half", "quarter", "double", "triple", "dozen", "accept", "admire", "agree", "allow",
    "appear", "arrive", "ask", "attack", "avoid", "bake", "balance", "bathe", "behave", "believe", "belong",
    "bend", "bite", "blink", "boil", "borrow", "bounce", "bow", "breathe", "burn", "buy", "call", "calm",
    "care", "celebrate", "change", "chase", "cheat", "check", "cheer", "chew", "choose", "clap", "collect",
    "compare", "complain", "count", "cover", "crawl", "cross", "crush", "cut", "damage", "decide", "deliver",
    "describe", "destroy", "discover", "divide", "drop", "dry", "earn", "enjoy", "enter", "escape", "explain",
    "explore", "fail", "fasten", "fetch", "fight", "fill", "float", "fold", "forgive", "freeze", "frighten",
    "gather", "gaze", "give", "glow", "grab", "grin", "grow", "guess", "hang", "happen", "hate", "hear",
    "hide", "hold", "hop", "hug", "hunt", "hurry", "imagine", "improve", "invite", "join", "juggle", "keep",
    "kick", "kiss", "kneel", "knit", "knock", "land", "last", "learn", "leave", "lend", "lift", "light",
    "like", "look", "lose", "love", "marry", "measure", "melt", "mend", "miss", "mix", "move", "nod",
    "notice", "obey", "offer", "order", "own", "pack", "paddle", "pass", "pay", "peel", "pick", "polish",
    "pour", "practise", "pray", "prefer", "prepare", "pretend", "print", "promise", "protect", "punish",
    "purr", "race", "raise", "reach", "relax", "repair", "repeat", "reply", "rescue", "rest", "return",
    "rush", "save", "say", "scream", "search", "shake", "share", "shave", "shiver", "shout", "show", "shrug",
    "sigh", "sip", "skate", "ski", "skip", "slide", "smell", "smile", "sneeze", "snore", "sort", "spell",
    "spill", "spin", "splash", "spray", "squeeze", "stand", "stare", "start", "stay", "steer", "stir", "stop",
    "stretch", "study", "suggest", "supply", "surprise", "swallow", "sweep", "swing", "talk", "taste",
    "teach", "tease", "tell", "thank", "tickle", "tidy", "touch", "trace", "trick", "trust", "try", "turn",
    "twist", "understand", "unlock", "unpack", "use", "vanish", "wake", "wander", "want", "warn", "wash",
    "waste", "wave", "wear", "weave", "whisper", "whistle", "win", "wink", "wonder", "work", "worry", "wrap",
    "yawn", "yell", "able", "afraid", "alive", "ancient", "awake", "bitter", "blank", "blind", "bold",
    "brave", "brief", "broad", "broken", "careful", "cheap", "cheerful", "chilly", "comfortable", "common",
    "cosy", "crazy", "cruel", "curious", "damp", "dangerous", "deaf", "deep", "delicate", "delicious",
    "different", "difficult", "dull", "eager", "early", "easy", "elegant", "enormous", "equal", "excellent",
    "fair", "faithful", "false", "fancy", "fast", "fat", "fierce", "fine", "flat", "fluffy", "foolish",
    "fresh", "friendly", "frozen", "funny", "giant", "glad", "good", "graceful", "grand", "great", "greedy",
    "handsome", "healthy", "helpful", "high", "honest", "hot", "huge", "humble", "icy", "ill", "important",
    "innocent", "jolly", "kind", "large", "late", "lively", "lonely", "loose", "lovely", "low", "mad",
    "magic", "merry", "mighty", "modern", "narrow", "nasty", "naughty", "neat", "nervous", "new", "nice",
    "noble", "noisy", "odd", "pale", "patient", "perfect", "pleasant", "polite", "poor", "powerful",
    "precious", "proud", "pure", "rare", "rich", "ripe", "rough", "round", "royal", "rude", "sad", "safe",
    "salty", "scared", "selfish", "serious", "shallow", "sharp", "shiny", "shy", "sick", "smooth", "solid",
    "sour", "spicy", "steep", "sticky", "stiff", "strict", "strong", "stupid", "sudden", "swift", "tender",
    "thick", "thin", "tiny", "tired", "tough", "true", "ugly", "useful", "useless", "vast", "violent", "wet",
    "wicked", "wide", "wild", "wise", "wonderful", "wooden", "worried", "wrong", "blue", "red", "pink",
    "brown", "grey", "violet", "crimson", "scarlet", "about", "above", "across", "against", "along", "among",
    "around", "beneath", "beside", "beyond", "during", "near", "through", "toward", "towards", "upon",
    "within", "without", "almost", "already", "also", "anyway", "perhaps", "quite", "rather", "really",
    "soon", "still", "then", "there", "together", "too", "usually", "yet", "everywhere", "nowhere",
    "somewhere", "because", "although", "unless", "until", "while", "everybody", "everyone", "everything",
    "nobody", "nothing", "somebody", "someone", "something", "anybody", "anyone", "anything",
)

# fmt: on

# Split spec key `lexicon` -> the words its sentences are drawn from.
LEXICONS: dict[str, tuple[str, ...]] = {"basic": WORDS, "extended": WORDS + EXTRA_WORDS}
