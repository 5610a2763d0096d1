"""Countries and cities that each language names its own way, and words that are not names.

A translation that writes "Allemagne" for "Germany" keeps the name, though no letter says so; one
that leaves "Turkey" in a German text has not translated it. This table lists the places news
mentions most, with the spellings (folded, as stems that inflected forms start with) in the
languages the checks know; a name not listed here is compared by its letters or its consonants.
A stem with a space matches a phrase ("estados unidos").

GENERIC_NAME_WORDS are English words that start with a capital inside names without being
names themselves ("Supreme Court", "Hurricane Rosa", "Mr. Doseba"): translators translate them.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.checks.script import fold

# One block per place: its English words, then "language: stem stem | language: stem ..." on
# indented lines, "_" standing for a space. The English words are whole words (a source name
# must be one of them); for the other languages they are stems.
_TABLE = """
en: germany german germans
    fr: allemagne allemand | de: deutschland deutsch | es: alemania aleman
    it: germania tedesc | pt: alemanha alema alemao
    ru: германи немец немц | ar: الماني | zh: 德国
en: france french
    fr: france francais | de: frankreich franzos | es: francia frances
    it: francia frances | pt: franca frances
    ru: франци француз | ar: فرنس | zh: 法国
en: spain spanish spaniard spaniards
    fr: espagne espagnol | de: spanien spanisch spanier | es: espana espanol
    it: spagna spagnol | pt: espanha espanhol
    ru: испани испанц | ar: اسبان | zh: 西班牙
en: italy italian italians
    fr: itali | de: itali | es: itali
    it: itali | pt: itali
    ru: итали | ar: ايطال | zh: 意大利
en: russia russian russians
    fr: russie russe | de: russland russisch russe russen | es: rusia ruso rusa
    it: russia russo russa | pt: russia russo russa
    ru: росси русск | ar: روسي | zh: 俄罗斯 俄
en: china chinese
    fr: chine chinois | de: china chines | es: china chino
    it: cina cines | pt: china chines
    ru: кита | ar: صين | zh: 中国 中方 华
en: japan japanese
    fr: japon | de: japan | es: japon
    it: giappon | pt: japao japones
    ru: япони | ar: يابان | zh: 日本
en: united_states america american americans
    fr: etats_unis americ | de: vereinigte_staaten vereinigten_staaten amerika usa
    es: estados_unidos estadounidense americ ee_uu
    it: stati_uniti americ usa | pt: estados_unidos americ eua
    ru: сша америк соединенн | ar: الولايات_المتحده امريك اميرك | zh: 美国 美方
en: britain british united_kingdom
    fr: royaume_uni britanni bretagne
    de: vereinigte_konigreich vereinigten_konigreich britanni grossbritanni
    es: reino_unido britanic bretana
    it: regno_unito britannic bretagna | pt: reino_unido britanic bretanha
    ru: британ великобритан англи | ar: بريطان المملكه_المتحده | zh: 英国 英方
en: england english
    fr: angleterre anglais | de: england englisch | es: inglaterra ingles
    it: inghilterra ingles | pt: inglaterra ingles
    ru: англи | ar: انجلتر انكلتر | zh: 英格兰 英国
en: scotland scottish scots
    fr: ecosse ecossais | de: schottland schott | es: escocia escoces
    it: scozia scozzes | pt: escocia escoces
    ru: шотланд | ar: اسكتلند | zh: 苏格兰
en: turkey turkish turks
    fr: turquie turc | de: turkei turk | es: turquia turco turca
    it: turchia turc | pt: turquia turco turca
    ru: турци турецк турок турк | ar: ترك | zh: 土耳其
en: greece greek greeks
    fr: grece grec | de: griechenland griech | es: grecia grieg
    it: grecia grec | pt: grecia greg
    ru: греци греческ грек | ar: يونان | zh: 希腊
en: mexico mexican mexicans
    fr: mexique mexicain | de: mexiko mexikan | es: mexic
    it: messic | pt: mexic
    ru: мексик | ar: مكسيك | zh: 墨西哥
en: india indian indians
    fr: inde indien | de: indien indisch inder | es: india indio
    it: india indian | pt: india indian
    ru: инди | ar: هند | zh: 印度
en: indonesia indonesian indonesians
    fr: indonesi | de: indonesi | es: indonesi
    it: indonesi | pt: indonesi
    ru: индонези | ar: اندونيس | zh: 印尼 印度尼西亚
en: egypt egyptian egyptians
    fr: egypt | de: agypt | es: egipt egipci
    it: egitt egizi | pt: egito egipci
    ru: египет египт | ar: مصر | zh: 埃及
en: syria syrian syrians
    fr: syri | de: syri | es: siria sirio
    it: siria sirian | pt: siria sirio
    ru: сири | ar: سوري | zh: 叙利亚
en: israel israeli israelis
    fr: israel | de: israel | es: israel
    it: israel | pt: israel
    ru: израил | ar: اسرائيل | zh: 以色列
en: iran iranian iranians
    fr: iran | de: iran | es: iran
    it: iran | pt: iran irao
    ru: иран | ar: ايران | zh: 伊朗
en: iraq iraqi iraqis
    fr: irak | de: irak | es: irak iraq
    it: iraq irach | pt: iraque
    ru: ирак | ar: عراق | zh: 伊拉克
en: saudi_arabia saudi saudis
    fr: arabie_saoudite saoudien | de: saudi | es: arabia_saudi saudi
    it: arabia_saudita saudit | pt: arabia_saudita saudit
    ru: саудовск | ar: سعودي | zh: 沙特
en: ukraine ukrainian ukrainians
    fr: ukrain | de: ukrain | es: ucrani
    it: ucrain | pt: ucrani
    ru: украин | ar: اوكران | zh: 乌克兰
en: poland polish poles
    fr: pologne polonais | de: polen polnisch | es: polonia polaco
    it: polonia polacc | pt: polonia polones polaco
    ru: польш польск поляк | ar: بولند بولوني | zh: 波兰
en: netherlands dutch holland
    fr: pays_bas neerlandais hollande | de: niederland holland | es: paises_bajos holand neerlandes
    it: paesi_bassi oland | pt: paises_baixos holand
    ru: нидерланд голланд | ar: هولند | zh: 荷兰
en: belgium belgian belgians
    fr: belgique belge | de: belgien belgisch | es: belgica belga
    it: belgio belga | pt: belgica belga
    ru: бельги | ar: بلجيك | zh: 比利时
en: switzerland swiss
    fr: suisse | de: schweiz | es: suiza suizo
    it: svizzer | pt: suica suico
    ru: швейцар | ar: سويسر | zh: 瑞士
en: austria austrian austrians
    fr: autriche autrichien | de: osterreich | es: austria austriac
    it: austria austriac | pt: austria austriac
    ru: австри | ar: نمسا | zh: 奥地利
en: sweden swedish swedes
    fr: suede suedois | de: schwed | es: suecia sueco
    it: svezia svedes | pt: suecia sueco
    ru: швеци шведск швед | ar: سويد | zh: 瑞典
en: norway norwegian norwegians
    fr: norvege norvegien | de: norweg | es: noruega norueg
    it: norvegia norveges | pt: noruega norueg
    ru: норвеги норвежск | ar: نرويج | zh: 挪威
en: denmark danish danes
    fr: danemark danois | de: danemark danisch | es: dinamarca danes
    it: danimarca danes | pt: dinamarca dinamarques
    ru: дани датск | ar: دنمارك دانمارك | zh: 丹麦
en: europe european europeans
    fr: europe europeen | de: europa europaisch | es: europa europeo
    it: europa europe | pt: europa europeu
    ru: европ | ar: اوروب اوربي | zh: 欧洲 欧盟
en: brazil brazilian brazilians
    fr: bresil | de: brasilian brasilien | es: brasil
    it: brasil | pt: brasil
    ru: бразил | ar: برازيل | zh: 巴西
en: canada canadian canadians
    fr: canad | de: kanad | es: canad
    it: canad | pt: canad
    ru: канад | ar: كند | zh: 加拿大
en: australia australian australians
    fr: australi | de: australi | es: australi
    it: australi | pt: australi
    ru: австрали | ar: استرالي | zh: 澳大利亚 澳洲
en: korea korean koreans
    fr: coree coreen | de: korea | es: corea
    it: corea | pt: coreia
    ru: коре | ar: كوري | zh: 韩国 朝鲜
en: afghanistan afghan afghans
    fr: afghan | de: afghan | es: afgan
    it: afghan | pt: afega afgan
    ru: афган | ar: افغان | zh: 阿富汗
en: pakistan pakistani pakistanis
    fr: pakistan | de: pakistan | es: pakistan paquistan
    it: pakistan | pt: paquistao pakistan
    ru: пакистан | ar: باكستان | zh: 巴基斯坦
en: macedonia macedonian macedonians
    fr: macedoin | de: makedoni mazedoni | es: macedoni
    it: macedoni | pt: macedoni
    ru: македони | ar: مقدوني | zh: 马其顿
en: london
    fr: londres | de: london | es: londres
    it: londra | pt: londres
    ru: лондон | ar: لندن | zh: 伦敦
en: moscow
    fr: moscou | de: moskau | es: moscu
    it: mosca | pt: moscovo moscou
    ru: москв московск | ar: موسكو | zh: 莫斯科
en: beijing peking
    fr: pekin beijing | de: peking | es: pekin
    it: pechino | pt: pequim
    ru: пекин | ar: بكين | zh: 北京
en: brussels
    fr: bruxelles | de: brussel | es: bruselas
    it: bruxelles | pt: bruxelas
    ru: брюссел | ar: بروكسل | zh: 布鲁塞尔
en: munich
    fr: munich | de: munchen | es: munich
    it: monaco | pt: munique
    ru: мюнхен | ar: ميونخ | zh: 慕尼黑
en: cologne
    fr: cologne | de: koln | es: colonia
    it: colonia | pt: colonia
    ru: кельн | ar: كولونيا | zh: 科隆
en: venice
    fr: venise | de: venedig | es: venecia
    it: venezia | pt: veneza
    ru: венеци | ar: بندقيه فينيسيا | zh: 威尼斯
en: rome
    fr: rome | de: rom | es: roma
    it: roma | pt: roma
    ru: рим | ar: روما | zh: 罗马
en: athens
    fr: athenes | de: athen | es: atenas
    it: atene | pt: atenas
    ru: афин | ar: اثينا | zh: 雅典
en: lisbon
    fr: lisbonne | de: lissabon | es: lisboa
    it: lisbona | pt: lisboa
    ru: лиссабон | ar: لشبون | zh: 里斯本
en: warsaw
    fr: varsovie | de: warschau | es: varsovia
    it: varsavia | pt: varsovia
    ru: варшав | ar: وارسو | zh: 华沙
en: prague
    fr: prague | de: prag | es: praga
    it: praga | pt: praga
    ru: праг | ar: براغ | zh: 布拉格
en: geneva
    fr: geneve | de: genf | es: ginebra
    it: ginevra | pt: genebra
    ru: женев | ar: جنيف | zh: 日内瓦
en: aleppo
    fr: alep | de: aleppo | es: alepo
    it: aleppo | pt: alepo
    ru: алеппо халеб | ar: حلب | zh: 阿勒颇
en: damascus
    fr: damas | de: damaskus | es: damasco
    it: damasco | pt: damasco
    ru: дамаск | ar: دمشق | zh: 大马士革
en: cairo
    fr: caire | de: kairo | es: cairo
    it: cairo | pt: cairo
    ru: каир | ar: قاهره | zh: 开罗
en: jerusalem
    fr: jerusalem | de: jerusalem | es: jerusalen
    it: gerusalemme | pt: jerusalem
    ru: иерусалим | ar: قدس | zh: 耶路撒冷
en: washington
    fr: washington | de: washington | es: washington
    it: washington | pt: washington
    ru: вашингтон | ar: واشنطن | zh: 华盛顿
en: paris
    fr: paris | de: paris | es: paris
    it: parigi | pt: paris
    ru: париж | ar: باريس | zh: 巴黎
en: berlin
    fr: berlin | de: berlin | es: berlin
    it: berlino | pt: berlim
    ru: берлин | ar: برلين | zh: 柏林
en: new_york
    fr: new_york | de: new_york | es: nueva_york
    it: new_york | pt: nova_iorque
    ru: нью_йорк | ar: نيويورك | zh: 纽约
"""


@dataclass(frozen=True)
class Place:
    english: str  # the first English word, to name the place in messages
    spellings: dict[str, tuple[str, ...]]  # language -> folded stems (phrases with spaces)


def _parse(table: str) -> tuple[Place, ...]:
    blocks: list[str] = []
    for line in table.strip().splitlines():
        if line.startswith("en:"):
            blocks.append(line)
        else:
            blocks[-1] += " | " + line.strip()
    places = []
    for block in blocks:
        spellings: dict[str, tuple[str, ...]] = {}
        for cell in block.split("|"):
            language, _, stems = cell.partition(":")
            spellings[language.strip()] = tuple(fold(s.replace("_", " ")) for s in stems.split())
        places.append(Place(spellings["en"][0], spellings))
    return tuple(places)


PLACES = _parse(_TABLE)

GENERIC_NAME_WORDS = frozenset(
    """
    mr mrs ms dr prof sir lord lady dame king queen prince princess duke pope saint st president vice
    prime minister chancellor secretary senator governor mayor judge justice general gen colonel col
    captain capt sergeant sgt officer chief director manager coach chairman chairwoman ceo spokesman
    spokeswoman rev reverend father archbishop bishop sheikh emir ayatollah rabbi imam

    party court supreme house senate congress parliament assembly council committee commission
    ministry department office agency bureau authority police prison army navy force forces guard
    service services union league cup premiership championship federation association university
    college school hospital church bank company corporation group club stadium airport station museum
    foundation institute center centre government administration republic kingdom empire state states
    united national federal democratic democrats republican republicans conservative conservatives
    labour liberal liberals communist socialist royal international world

    street road avenue square lane boulevard bridge city town county province region district island
    islands river lake sea ocean mountain mountains valley desert coast north south east west
    northern southern eastern western northeast northwest southeast southwest central upper lower new
    great hurricane storm typhoon cyclone tropical war day

    monday tuesday wednesday thursday friday saturday sunday january february march april may june
    july august september october november december jan feb mar apr jun jul aug sep sept oct nov dec

    internet web god christmas easter
    """.split()
)
