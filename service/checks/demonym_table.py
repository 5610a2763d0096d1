"""The words for countries, their adjectives and their peoples, per language: the data of `demonyms`.

Notation: service/checks/lexicon.py (`stem*` takes a short ending; `|` separates languages on one line).
"""

# One block per country of `exonyms` (its English key first), then per language the forms of the
# country, its adjective and its people. English forms are whole words, always capitalised.
TABLE = """
germany
    en: Germany German Germans
    fr: Allemagne allemand* | de: Deutschland* deutsch* | es: Alemania alemán* germano* germana*
    it: Germania tedesc* germanic* | pt: Alemanha alemã* alemão alemães germano* germana*
    nl: Duitsland duits*
    ru: Германи* германск* немец немц* немецк* | ar: ألمان* ألمانيا | zh: 德国 德方
france
    en: France French Frenchman Frenchmen Frenchwoman
    fr: France français* | de: Frankreich* französisch* Franzose* Französin*
    es: Francia francés* | it: Francia frances* | pt: ^França francês* francesa* | nl: Frankrijk frans*
    ru: Франци* француз* французск* француженк* | ar: فرنس* | zh: 法国 法方
spain
    en: Spain Spanish Spaniard Spaniards
    fr: Espagne espagnol* | de: Spanien* spanisch* Spanier* | es: España español*
    it: Spagna spagnol* | pt: Espanha espanhol* espanhóis | nl: Spanje spaans* Spanjaard*
    ru: Испани* испанск* испанец испанц* | ar: إسبان* | zh: 西班牙
italy
    en: Italy Italian Italians
    fr: Italie italien* | de: Italien* italienisch* Italiener* | es: Italia italian*
    it: Italia italian* | pt: Itália italian* | nl: Italië italiaan* Italianen
    ru: Итали* итальян* итальянск* | ar: إيطالي* | zh: 意大利
russia
    en: Russia Russian Russians
    fr: Russie russe* | de: Russland* russisch* Russe Russen Russin* | es: Rusia ruso* rusa*
    it: Russia russo russa russi russe | pt: Rússia russo* russa* | nl: Rusland* russisch* Rus Russen
    ru: Росси* российск* русск* россиян* | ar: روس* | zh: 俄罗斯 俄国 俄方
china
    en: China Chinese
    fr: Chine chinois* | de: China* chinesisch* Chinese* | es: ^China chino* chinas
    it: Cina cines* | pt: China chinês* chinesa* | nl: China chinees* chinese* Chinezen
    ru: Китай Китая Китае Китаю Китаем китайск* китаец китайц* | ar: صين* | zh: 中国 中方
japan
    en: Japan Japanese
    fr: Japon japonais* | de: Japan* japanisch* | es: Japón japonés* japones*
    it: Giappone giappones* | pt: Japão japonês* japones* | nl: Japan japans* Japanner*
    ru: Япони* японск* японец японц* | ar: يابان* | zh: 日本
united states
    en: America American Americans United_States US U_S USA U_S_A
    fr: États-Unis américain* | de: Vereinigte*_Staaten USA Amerika* amerikanisch*
    es: Estados_Unidos EE_UU estadounidense* american* | it: Stati_Uniti USA american*
    pt: Estados_Unidos EUA american* norte-american* | nl: Verenigde_Staten Amerika* amerikaans* Amerikanen
    ru: США Америк* американ* американск* Соединенн*_Штат* | ar: أمريك* أميرك* الولايات_المتحدة
    zh: 美国 美方
britain
    en: Britain British Briton Britons United_Kingdom UK U_K
    fr: Royaume-Uni Grande-Bretagne britannique*
    de: Großbritannien* Vereinigte*_Königreich* britisch* Brite Briten Britin*
    es: Reino_Unido Gran_Bretaña británic* | it: Regno_Unito Gran_Bretagna britannic*
    pt: Reino_Unido Grã-Bretanha britânic* | nl: Verenigd_Koninkrijk Groot-Brittannië Brits*
    ru: Великобритани* британ* британск* Соединенн*_Королевств* | ar: بريطان* المملكة_المتحدة
    zh: 英国 英方
england
    en: England English Englishman Englishmen
    fr: Angleterre anglais* | de: England* englisch* Engländer* | es: Inglaterra inglés* ingles*
    it: Inghilterra ingles* | pt: Inglaterra inglês* ingles* | nl: Engeland engels*
    ru: Англи* английск* англичан* | ar: إنجلتر* إنكلتر* إنجليز* إنكليز* | zh: 英格兰
scotland
    en: Scotland Scottish Scots Scotsman Scotsmen
    fr: Écosse écossais* | de: Schottland* schottisch* Schotte Schotten | es: Escocia escocés* escoces*
    it: Scozia scozzes* | pt: Escócia escocês* escoces* | nl: Schotland schots*
    ru: Шотланди* шотландск* шотландец шотландц* | ar: إسكتلند* اسكتلند* | zh: 苏格兰
turkey
    en: Turkey Turkish Turk Turks
    fr: Turquie turc turcs turque turques | de: Türkei türkisch* Türke Türken Türkin*
    es: Turquía turco turca turcos turcas | it: Turchia turco turca turchi turche
    pt: Turquia turco turca turcos turcas | nl: Turkije turks* Turk Turken
    ru: Турци* турецк* турок турки турков туркам | ar: تركيا تركي* أتراك الأتراك | zh: 土耳其
greece
    en: Greece Greek Greeks
    fr: Grèce grec grecs grecque grecques | de: Griechenland* griechisch* Grieche Griechen Griechin*
    es: Grecia griego* griega* | it: Grecia greco greca greci greche | pt: Grécia grego* grega*
    nl: Griekenland grieks* Griek Grieken
    ru: Греци* греческ* грек греки греков | ar: يونان* | zh: 希腊
mexico
    en: Mexico Mexican Mexicans
    fr: Mexique mexicain* | de: Mexiko* mexikanisch* Mexikaner* | es: México Méjico mexican*
    it: Messico messican* | pt: México mexican* | nl: Mexico mexicaan* Mexicanen
    ru: Мексик* мексиканск* мексиканец мексиканц* | ar: مكسيك* | zh: 墨西哥
india
    en: India Indian Indians
    fr: Inde indien* | de: Indien* indisch* Inder Indianer* indianisch* | es: India indio*
    it: India indian*
    pt: Índia indian* | nl: India Indiaas* Indiër*
    ru: Индия Индии Индию Индией индийск* индиец индийц* | ar: الهند هندي* هنود | zh: 印度
indonesia
    en: Indonesia Indonesian Indonesians
    fr: Indonésie indonésien* | de: Indonesien* indonesisch* Indonesier* | es: Indonesia indonesi*
    it: Indonesia indonesian* | pt: Indonésia indonési* | nl: Indonesië indonesisch* Indonesiër*
    ru: Индонези* индонезийск* индонезиец индонезийц* | ar: إندونيسي* | zh: 印度尼西亚 印尼
egypt
    en: Egypt Egyptian Egyptians
    fr: Égypte égyptien* | de: Ägypten* ägyptisch* Ägypter* | es: Egipto egipci*
    it: Egitto egizian* egizi* | pt: Egito Egipto egípci* | nl: Egypte egyptisch* Egyptenaar*
    ru: Египет Египт* египетск* египтян* | ar: مصر مصري* | zh: 埃及
syria
    en: Syria Syrian Syrians
    fr: Syrie syrien* | de: Syrien* syrisch* Syrer* | es: Siria sirio* sirias
    it: Siria sirian* | pt: Síria sírio* sírias | nl: Syrië syrisch* Syriër*
    ru: Сирия Сирии Сирию Сирией сирийск* сириец сирийц* | ar: سوري* | zh: 叙利亚
israel
    en: Israel Israeli Israelis
    fr: Israël israélien* | de: Israel* israelisch* Israeli* | es: Israel israelí*
    it: Israele israelian* | pt: Israel israelense* israelita* | nl: Israël Israëlisch* Israëli*
    ru: Израил* израильск* израильтян* | ar: إسرائيل* | zh: 以色列
iran
    en: Iran Iranian Iranians
    fr: Iran iranien* | de: Iran* iranisch* Iraner* | es: Irán iraní* | it: Iran iranian*
    pt: Irã Irão iranian* | nl: Iran Iraans* Iraniër*
    ru: Иран* иранск* иранец иранц* | ar: إيران* | zh: 伊朗
iraq
    en: Iraq Iraqi Iraqis
    fr: Irak irakien* | de: Irak* irakisch* Iraker* | es: Irak Iraq iraquí* | it: Iraq irachen*
    pt: Iraque iraquian* | nl: Irak Iraaks* Irakees Irakezen
    ru: Ирак* иракск* иракец иракц* | ar: عراق* | zh: 伊拉克
saudi arabia
    en: Saudi Saudis Saudi_Arabia
    fr: Arabie_saoudite saoudien* | de: Saudi* saudisch* | es: Arabia_Saudí Arabia_Saudita saudí*
    it: Arabia_Saudita saudit* | pt: Arábia_Saudita saudit* | nl: Saoedi*
    ru: Саудовск* саудит* | ar: سعودي* | zh: 沙特
ukraine
    en: Ukraine Ukrainian Ukrainians
    fr: Ukraine ukrainien* | de: Ukraine* ukrainisch* Ukrainer* | es: Ucrania ucranian*
    it: Ucraina ucrain* | pt: Ucrânia ucranian* | nl: Oekraïne Oekraïens* Oekraïner*
    ru: Украин* украинск* украинец украинц* | ar: أوكران* | zh: 乌克兰
poland
    en: Poland Polish Poles
    fr: Pologne polonais* | de: Polen polnisch* Polin* | es: Polonia polaco* polaca*
    it: Polonia polacc* | pt: Polônia Polónia polonês* polaco* | nl: Polen Pools*
    ru: Польш* польск* поляк* | ar: بولند* بولوني* | zh: 波兰
netherlands
    en: Netherlands Dutch Holland
    fr: Pays-Bas néerlandais* Hollande hollandais*
    de: Niederlande* niederländisch* Niederländer* Holland* holländisch*
    es: Países_Bajos Holanda holandés* neerlandés* | it: Paesi_Bassi Olanda olandes*
    pt: Países_Baixos Holanda holandês* neerlandês* | nl: Nederland* Holland* Hollands*
    ru: Нидерланд* нидерландск* Голланди* голландск* голландец голландц* | ar: هولند* | zh: 荷兰
belgium
    en: Belgium Belgian Belgians
    fr: Belgique belge belges | de: Belgien* belgisch* Belgier* | es: Bélgica belga belgas
    it: Belgio belga belgi belghe | pt: Bélgica belga belgas | nl: België Belgisch* Belg Belgen
    ru: Бельги* бельгийск* бельгиец бельгийц* | ar: بلجيك* | zh: 比利时
switzerland
    en: Switzerland Swiss
    fr: Suisse suisses | de: Schweiz* Schweizer* schweizerisch* | es: Suiza suizo* suiza*
    it: Svizzera svizzer* | pt: Suíça suíço* suíça* | nl: Zwitserland Zwitsers*
    ru: Швейцари* швейцарск* швейцарец швейцарц* | ar: سويسر* | zh: 瑞士
austria
    en: Austria Austrian Austrians
    fr: Autriche autrichien* | de: Österreich* österreichisch* | es: Austria austriac*
    it: Austria austriac* | pt: Áustria austríac* | nl: Oostenrijk*
    ru: Австри* австрийск* австриец австрийц* | ar: النمسا نمساوي* | zh: 奥地利
sweden
    en: Sweden Swedish Swede Swedes
    fr: ^Suède suédois* | de: Schweden* schwedisch* Schwede | es: Suecia sueco* sueca*
    it: Svezia svedes* | pt: Suécia sueco* sueca* | nl: Zweden Zweeds* Zweed
    ru: Швеци* шведск* швед шведы шведов | ar: سويد* | zh: 瑞典
norway
    en: Norway Norwegian Norwegians
    fr: Norvège norvégien* | de: Norwegen* norwegisch* Norweger* | es: Noruega norueg*
    it: Norvegia norveges* | pt: Noruega norueg* | nl: Noorwegen Noors*
    ru: Норвеги* норвежск* норвежец норвежц* | ar: نرويج* | zh: 挪威
denmark
    en: Denmark Danish Dane Danes
    fr: Danemark danois* | de: Dänemark* dänisch* Däne Dänen | es: Dinamarca danés danesa* daneses
    it: Danimarca danes* | pt: Dinamarca dinamarquês* dinamarques* | nl: Denemarken Deens*
    ru: Дания Дании Данию датск* датчан* | ar: دنمارك* دانمارك* | zh: 丹麦
brazil
    en: Brazil Brazilian Brazilians
    fr: Brésil brésilien* | de: Brasilien* brasilianisch* Brasilianer* | es: Brasil brasileñ*
    it: Brasile brasilian* | pt: Brasil brasileir* | nl: Brazilië Braziliaans* Braziliaan*
    ru: Бразили* бразильск* бразилец бразильц* | ar: برازيل* | zh: 巴西
canada
    en: Canada Canadian Canadians
    fr: Canada canadien* | de: Kanada* kanadisch* Kanadier* | es: Canadá canadiens*
    it: Canada canades* | pt: Canadá canadens* | nl: Canada Canadees Canadese Canadezen
    ru: Канада Канады Канаде Канаду канадск* канадец канадц* | ar: كندا كندي* | zh: 加拿大
australia
    en: Australia Australian Australians
    fr: Australie australien* | de: Australien* australisch* Australier* | es: Australia australian*
    it: Australia australian* | pt: Austrália australian* | nl: Australië Australisch* Australiër*
    ru: Австрали* австралийск* австралиец австралийц* | ar: أسترالي* استرالي* | zh: 澳大利亚 澳洲
korea
    en: Korea Korean Koreans
    fr: Corée coréen* | de: Korea* koreanisch* Koreaner* | es: Corea corean* | it: Corea corean*
    pt: Coreia corean* | nl: Korea Koreaans* Koreaan*
    ru: Корея Кореи Корею Кореей корейск* кореец корейц* | ar: كوري* | zh: 韩国 朝鲜 韩方 朝方
afghanistan
    en: Afghanistan Afghan Afghans
    fr: Afghanistan afghan* | de: Afghanistan* afghanisch* Afghane Afghanen | es: Afganistán afgan*
    it: Afghanistan afghan* | pt: Afeganistão afegão afegã afegãos afegãs | nl: Afghanistan Afghaans* Afghaan*
    ru: Афганистан* афганск* афганец афганц* | ar: أفغانستان أفغان* | zh: 阿富汗
pakistan
    en: Pakistan Pakistani Pakistanis
    fr: Pakistan pakistanais* | de: Pakistan* pakistanisch* Pakistaner*
    es: Pakistán Paquistán pakistaní* paquistaní*
    it: Pakistan pakistan* | pt: Paquistão paquistanês* | nl: Pakistan Pakistaans* Pakistaan*
    ru: Пакистан* пакистанск* пакистанец пакистанц* | ar: باكستان* | zh: 巴基斯坦
macedonia
    en: Macedonia Macedonian Macedonians
    fr: Macédoine macédonien* | de: Mazedonien* Makedonien* mazedonisch* makedonisch* Mazedonier*
    es: Macedonia macedoni* | it: Macedonia macedon* | pt: Macedônia Macedónia macedóni*
    nl: Macedonië Macedonisch*
    ru: Македони* македонск* македонец македонц* | ar: مقدوني* | zh: 马其顿
"""

# Countries a translator may write for one another.
SAME_COUNTRY = {"england": "britain", "scotland": "britain"}
